#include "kmod/PageTracking.h"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "base/Error.h"
#include "kmod/Crc32c.h"
#include "kmod/ProcFs.h"

namespace deja::kmod {

namespace {

// CRC32C is linear: crc(A || B) = Z(crc(A)) ^ crc(B), where Z advances a CRC register over
// |B| zero bytes. For |B| = one page, Z is tabulated byte by byte once.
struct PageShift {
  std::array<std::array<uint32_t, 256>, 4> t;
  PageShift() {
    static const std::string zeros(kPageSize, '\0');
    for (int k = 0; k < 4; ++k)
      for (uint32_t b = 0; b < 256; ++b) {
        // crc32c() conditions its register (~ in and out); the raw shift of v is:
        uint32_t v = b << (8 * k);
        t[k][b] = ~crc32c(~v, zeros.data(), zeros.size());
      }
  }
  uint32_t operator()(uint32_t v) const {
    return t[0][v & 0xff] ^ t[1][(v >> 8) & 0xff] ^ t[2][(v >> 16) & 0xff] ^ t[3][v >> 24];
  }
};

// Mappings whose pages a capture stores (and so a tracker watches): private ones, except the
// kernel's own (vDSO block, vsyscall).
bool holds_private_pages(const procfs::MapsEntry& m) {
  return m.perms.size() == 4 && m.perms[3] == 'p' && m.path != "[vvar]" &&
         m.path != "[vvar_vclock]" && m.path != "[vdso]" && m.path != "[vsyscall]";
}

}  // namespace

uint32_t crc32c_append_page(uint32_t crc_before, uint32_t crc_page) {
  static const PageShift shift;
  return shift(crc_before) ^ crc_page;
}

ProcessTracking& PageTracking::process(HostPid pid, uint64_t start_time) {
  ProcessTracking& t = procs_[pid];
  if (t.start_time != start_time) t = ProcessTracking{start_time, nullptr, {}, {}, {}, {}, 0};
  t.unchanged.clear();
  t.copied.clear();
  t.copied_bytes = 0;
  return t;
}

uint64_t PageTracking::add_references(TreeState& tree) {
  uint64_t referenced = 0;
  for (ProcessState& p : tree.processes) {
    auto it = procs_.find(p.host_pid);
    if (p.zombie || it == procs_.end()) continue;
    const ProcessTracking& t = it->second;
    for (const ProcessTracking::Copied& c : t.copied) {
      const char* d = t.buffer.data() + c.at;
      auto zero = [&](uint64_t i) { return c.anon && all_zero(d + i * kPageSize, kPageSize); };
      for (uint64_t k = 0; k < c.count;) {
        if (zero(k)) {
          ++k;
          continue;
        }
        uint64_t m = k;
        while (m < c.count && !zero(m)) ++m;
        p.pages.push_back(PageExtent{c.addr + k * kPageSize, m - k,
                                     std::string(d + k * kPageSize, (m - k) * kPageSize), Crid{},
                                     0, 0});
        k = m;
      }
    }
    // Both lists are in address order: walk them together.
    size_t r = 0;
    for (const PageHome& h : t.committed) {
      while (r < t.unchanged.size() && t.unchanged[r].end <= h.addr) ++r;
      if (r == t.unchanged.size()) break;
      if (h.addr < t.unchanged[r].start) continue;
      ++referenced;
      if (!p.pages.empty()) {
        PageExtent& last = p.pages.back();
        if (last.data_crid == h.crid && last.addr + last.count * kPageSize == h.addr &&
            last.data_offset + last.count * kPageSize == h.offset) {
          last.data_crc = crc32c_append_page(last.data_crc, h.crc);
          ++last.count;
          continue;
        }
      }
      p.pages.push_back(PageExtent{h.addr, 1, {}, h.crid, h.offset, h.crc});
    }
  }
  return referenced;
}

void PageTracking::committed(const TreeState& tree, const ImageLayout& layout) {
  std::map<VPid, std::vector<const PageLocation*>> written;
  for (const PageLocation& l : layout.pages) written[l.pid].push_back(&l);
  std::map<HostPid, ProcessTracking> next;
  for (const ProcessState& p : tree.processes) {
    auto it = procs_.find(p.host_pid);
    if (p.zombie || it == procs_.end()) continue;
    ProcessTracking t = std::move(it->second);
    std::vector<PageHome> homes;
    for (const PageExtent& e : p.pages) {
      if (e.data_crid.value == 0) continue;
      // A referenced extent keeps the homes it was made of (same CRID, consecutive offsets).
      for (uint64_t i = 0; i < e.count; ++i) homes.push_back({e.addr + i * kPageSize, e.data_crid,
                                                               e.data_offset + i * kPageSize, 0});
    }
    // Per-page CRCs of referenced pages come from the previous map.
    if (!homes.empty()) {
      size_t j = 0;
      for (PageHome& h : homes) {
        while (j < t.committed.size() && t.committed[j].addr < h.addr) ++j;
        DEJA_CHECK(j < t.committed.size() && t.committed[j].addr == h.addr);
        h.crc = t.committed[j].crc;
      }
    }
    // Inline pages now live in this image: the writer says where.
    std::map<uint64_t, const PageExtent*> inline_by_end;
    for (const PageExtent& x : p.pages)
      if (x.data_crid.value == 0) inline_by_end[x.addr + x.count * kPageSize] = &x;
    for (const PageLocation* l : written[p.pid]) {
      auto x = inline_by_end.upper_bound(l->addr);
      DEJA_CHECK(x != inline_by_end.end() && x->second->addr <= l->addr);
      const PageExtent* e = x->second;
      for (uint64_t i = 0; i < l->count; ++i) {
        const char* d = e->data.data() + (l->addr - e->addr) + i * kPageSize;
        homes.push_back(
            {l->addr + i * kPageSize, tree.crid, l->offset + i * kPageSize, crc32c(0, d, kPageSize)});
      }
    }
    std::sort(homes.begin(), homes.end(),
              [](const PageHome& a, const PageHome& b) { return a.addr < b.addr; });
    t.committed = std::move(homes);
    t.unchanged.clear();
    next[p.host_pid] = std::move(t);
  }
  procs_ = std::move(next);
}

bool PageTracking::tracks_exactly(const std::set<HostPid>& processes) const {
  if (procs_.size() != processes.size()) return false;
  for (const auto& [pid, t] : procs_)
    if (!processes.count(pid)) return false;
  return true;
}

uint64_t PageTracking::written_pages(uint64_t limit) {
  uint64_t n = 0;
  for (auto& [pid, t] : procs_) {
    if (!t.tracker) return limit;
    std::string pm = "/proc/" + std::to_string(pid.value) + "/pagemap";
    ScopedFd pagemap(::open(pm.c_str(), O_RDONLY | O_CLOEXEC));
    if (!pagemap) return limit;  // it just exited: that is a change
    try {
      for (const auto& m : procfs::maps(pid)) {
        if (!holds_private_pages(m)) continue;
        n += t.tracker->written(pagemap.get(), m.start, m.end, limit - n);
        if (n >= limit) return limit;
      }
    } catch (const Error&) {
      return limit;  // it exited while we looked
    }
  }
  return n;
}

}  // namespace deja::kmod
