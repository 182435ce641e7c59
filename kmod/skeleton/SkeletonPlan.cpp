#include "kmod/skeleton/SkeletonPlan.h"

#include <cstring>

namespace deja::kmod {

namespace {

constexpr int32_t kMagic = 0x4b534a44;  // "DJSK"

void put(std::string& out, int32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

// Reads the next int32 of `in` at `at`; false past the end.
bool get(const std::string& in, size_t& at, int32_t& v) {
  if (at > in.size() || in.size() - at < 4) return false;
  std::memcpy(&v, in.data() + at, 4);
  at += 4;
  return true;
}

}  // namespace

std::string encode_skeleton_plan(const std::vector<SkeletonMember>& members) {
  std::string out;
  put(out, kMagic);
  put(out, static_cast<int32_t>(members.size()));
  for (const SkeletonMember& m : members) {
    for (int32_t v : {m.pid, m.ppid, m.sid, m.pgid, int32_t{m.zombie}, m.exit_status,
                      static_cast<int32_t>(m.tids.size())})
      put(out, v);
    for (int32_t t : m.tids) put(out, t);
  }
  return out;
}

std::optional<std::vector<SkeletonMember>> decode_skeleton_plan(const std::string& bytes) {
  size_t at = 0;
  int32_t magic, count;
  if (!get(bytes, at, magic) || magic != kMagic || !get(bytes, at, count) || count < 0)
    return std::nullopt;
  std::vector<SkeletonMember> out;
  for (int32_t i = 0; i < count; ++i) {
    SkeletonMember m;
    int32_t zombie, threads;
    if (!get(bytes, at, m.pid) || !get(bytes, at, m.ppid) || !get(bytes, at, m.sid) ||
        !get(bytes, at, m.pgid) || !get(bytes, at, zombie) || !get(bytes, at, m.exit_status) ||
        !get(bytes, at, threads) || threads < 0)
      return std::nullopt;
    m.zombie = zombie != 0;
    m.tids.resize(static_cast<size_t>(threads));
    for (int32_t& t : m.tids)
      if (!get(bytes, at, t)) return std::nullopt;
    out.push_back(std::move(m));
  }
  if (at != bytes.size()) return std::nullopt;
  return out;
}

}  // namespace deja::kmod
