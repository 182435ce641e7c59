#include "recorder/ContainerIds.h"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/Error.h"
#include "base/Files.h"

namespace deja::recorder {

namespace {

constexpr const char* kIdMapFile = "/.deja/idmap";

struct IdRange {
  uint32_t first = 0, count = 0;
};

// The line "deja:FIRST:COUNT" of /etc/subuid or /etc/subgid, if any.
std::optional<IdRange> subordinate_range(const char* file) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    unsigned long first = 0, count = 0;
    if (line.rfind("deja:", 0) != 0) continue;
    if (std::sscanf(line.c_str() + 5, "%lu:%lu", &first, &count) != 2 || first == 0 ||
        count < kIdCount || first + kIdCount > 0xffffffffUL)
      throw Error(std::string(file) + ": the line '" + line +
                  "' must be deja:FIRST:COUNT with FIRST > 0 and COUNT >= 65536");
    return IdRange{static_cast<uint32_t>(first), kIdCount};
  }
  return std::nullopt;
}

// nftw takes no context argument: the owner being given, and the first path refused.
const IdMap* g_chown_map = nullptr;
std::string g_chown_failed;

int chown_entry(const char* path, const struct stat*, int, FTW*) {
  if (::lchown(path, g_chown_map->host_uid, g_chown_map->host_gid) == 0) return 0;
  g_chown_failed = path;
  return errno;  // ends the walk; nftw returns it
}

}  // namespace

IdMap default_id_map() {
  auto uids = subordinate_range("/etc/subuid");
  auto gids = subordinate_range("/etc/subgid");
  IdMap map{kDefaultHostId, kDefaultHostId, kIdCount};
  if (uids) map.host_uid = uids->first;
  if (gids) map.host_gid = gids->first;
  return map;
}

IdMap read_id_map(const std::string& files) {
  const std::string path = files + kIdMapFile;
  if (!path_exists(path)) return {};
  std::istringstream in(read_file(path));
  IdMap map;
  if (!(in >> map.host_uid >> map.host_gid >> map.count) || map.count == 0 || map.host_uid == 0 ||
      map.host_gid == 0)
    throw Error(path + " must hold 'HOST_UID HOST_GID COUNT' of an unprivileged range");
  return map;
}

void write_id_map(const std::string& files, const IdMap& map) {
  write_file(files + kIdMapFile, std::to_string(map.host_uid) + " " + std::to_string(map.host_gid) +
                                     " " + std::to_string(map.count) + "\n");
}

void write_process_id_map(pid_t pid, const IdMap& map) {
  const std::string proc = "/proc/" + std::to_string(pid);
  // One line each: 0..count-1 inside are host_id..host_id+count-1.
  auto line = [&](uint32_t host) {
    return "0 " + std::to_string(host) + " " + std::to_string(map.count) + "\n";
  };
  try {
    write_file(proc + "/uid_map", line(map.host_uid));
    write_file(proc + "/gid_map", line(map.host_gid));
  } catch (const Error& e) {
    throw Error(std::string("the kernel refused the session's id map (host ids from ") +
                std::to_string(map.host_uid) + ", " + std::to_string(map.count) + " of them; " +
                "see /etc/subuid): " + e.what());
  }
}

void give_session_files(const std::string& files, const IdMap& map) {
  g_chown_map = &map;
  for (const char* d : {"/home", "/tmp", "/var-tmp", "/run"}) {
    g_chown_failed.clear();
    int rc = ::nftw((files + d).c_str(), chown_entry, 16, FTW_PHYS);
    if (rc > 0) errno = rc;
    if (rc != 0)
      throw_errno(g_chown_failed.empty() ? "nftw" : "lchown",
                  g_chown_failed.empty() ? files + d : g_chown_failed);
  }
}

void become_session_root() {
  if (::setgroups(0, nullptr) != 0) throw_errno("setgroups", "session root");
  if (::setresgid(0, 0, 0) != 0) throw_errno("setresgid", "session root");
  if (::setresuid(0, 0, 0) != 0) throw_errno("setresuid", "session root");
}

}  // namespace deja::recorder
