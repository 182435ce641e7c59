#include "recorder/ContainerIds.h"

#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "base/Error.h"
#include "base/Files.h"

namespace deja::recorder {

namespace {

constexpr const char* kIdMapFile = "/.deja/idmap";

struct IdRange {
  uint32_t first = 0, count = 0;
};

// A decimal number that fits 32 bits, and nothing else.
std::optional<uint32_t> parse_id(std::string_view text) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// The line "deja:FIRST:COUNT" of a subordinate id file, if any. Only its form is checked
// here; whether the range is one the kernel maps is the kernel's to say (start_container).
std::optional<IdRange> subordinate_range(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("deja:", 0) != 0) continue;
    std::string_view rest(line);
    rest.remove_prefix(5);
    size_t colon = rest.find(':');
    auto first = parse_id(rest.substr(0, colon));
    auto count = colon == std::string_view::npos ? std::nullopt : parse_id(rest.substr(colon + 1));
    if (!first || !count || *first == 0 || *count < kIdCount)
      throw Error(file + ": the line '" + line +
                  "' must be deja:FIRST:COUNT with FIRST > 0 and COUNT >= 65536 (fix or remove it)");
    return IdRange{*first, kIdCount};
  }
  return std::nullopt;
}

std::string file_from_env(const char* variable, const char* otherwise) {
  const char* named = std::getenv(variable);
  return named && *named ? named : otherwise;
}

// The groups `name` is in besides `gid`, those the session's ids hold.
std::vector<gid_t> groups_of(const std::string& name, gid_t gid) {
  int n = 64;
  std::vector<gid_t> all(static_cast<size_t>(n));
  while (::getgrouplist(name.c_str(), gid, all.data(), &n) < 0) all.resize(static_cast<size_t>(n));
  all.resize(static_cast<size_t>(n));
  std::erase_if(all, [&](gid_t g) { return g == gid || g >= kIdCount; });
  return all;
}

SessionUser user_from(const passwd& pw) {
  SessionUser user{pw.pw_name, pw.pw_uid, pw.pw_gid, {}};
  if (user.uid >= kIdCount || user.gid >= kIdCount)
    throw Error("user " + user.name + " (uid " + std::to_string(user.uid) + ", gid " +
                std::to_string(user.gid) + ") is outside the session's ids 0-65535: choose " +
                "another with --user NAME");
  if (user.uid != 0) user.groups = groups_of(user.name, user.gid);
  return user;
}

// nftw takes no context argument: the owner being given, and the first path refused.
uint32_t g_chown_uid = 0, g_chown_gid = 0;
std::string g_chown_failed;

int chown_entry(const char* path, const struct stat*, int, FTW*) {
  if (::lchown(path, g_chown_uid, g_chown_gid) == 0) return 0;
  g_chown_failed = path;
  return errno;  // ends the walk; nftw returns it
}

}  // namespace

std::string subuid_file() { return file_from_env("DEJA_SUBUID", "/etc/subuid"); }
std::string subgid_file() { return file_from_env("DEJA_SUBGID", "/etc/subgid"); }

IdMap default_id_map() {
  auto uids = subordinate_range(subuid_file());
  auto gids = subordinate_range(subgid_file());
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
  // The session's user came later: a map without it is a session run as its root.
  if (!(in >> map.user_uid >> map.user_gid)) map.user_uid = map.user_gid = 0;
  return map;
}

void write_id_map(const std::string& files, const IdMap& map) {
  write_file(files + kIdMapFile, std::to_string(map.host_uid) + " " + std::to_string(map.host_gid) +
                                     " " + std::to_string(map.count) + " " +
                                     std::to_string(map.user_uid) + " " +
                                     std::to_string(map.user_gid) + "\n");
}

SessionUser session_user(const std::string& name) {
  if (!name.empty()) {
    const passwd* pw = ::getpwnam(name.c_str());
    if (!pw) throw Error("no user " + name + " on this host (getent passwd lists them)");
    return user_from(*pw);
  }
  uid_t asking = ::getuid();
  const char* sudo = std::getenv("SUDO_UID");
  if (asking == 0 && sudo) asking = parse_id(sudo).value_or(0);
  if (asking == 0) return {};
  const passwd* pw = ::getpwuid(asking);
  if (!pw) throw Error("the uid " + std::to_string(asking) + " who asked has no user name: " +
                       "choose one with --user NAME");
  return user_from(*pw);
}

SessionUser user_of(const IdMap& map) {
  SessionUser user;
  user.uid = map.user_uid;
  user.gid = map.user_gid;
  if (user.uid == 0) return user;
  if (const passwd* pw = ::getpwuid(user.uid)) {
    user.name = pw->pw_name;
    user.groups = groups_of(user.name, user.gid);
  }
  return user;
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
                std::to_string(map.host_uid) + " and " + std::to_string(map.host_gid) + ", " +
                std::to_string(map.count) + " of each; the line deja: of " + subuid_file() +
                " and " + subgid_file() + " names them): " + e.what());
  }
}

void give_session_files(const std::string& files, const IdMap& map,
                        const std::vector<std::string>& user_dirs) {
  auto give = [](const std::string& dir, uint32_t uid, uint32_t gid) {
    g_chown_uid = uid;
    g_chown_gid = gid;
    g_chown_failed.clear();
    int rc = ::nftw(dir.c_str(), chown_entry, 16, FTW_PHYS);
    if (rc > 0) errno = rc;
    if (rc != 0) throw_errno(g_chown_failed.empty() ? "nftw" : "lchown",
                             g_chown_failed.empty() ? dir : g_chown_failed);
  };
  for (const char* d : {"/home", "/tmp", "/var-tmp", "/run"})
    give(files + d, map.host_uid, map.host_gid);
  if (map.user_uid == 0) return;
  for (const auto& d : user_dirs)
    give(d, map.host_uid + map.user_uid, map.host_gid + map.user_gid);
}

void become_session_root() {
  if (::setgroups(0, nullptr) != 0) throw_errno("setgroups", "session root");
  if (::setresgid(0, 0, 0) != 0) throw_errno("setresgid", "session root");
  if (::setresuid(0, 0, 0) != 0) throw_errno("setresuid", "session root");
}

void become_session_user(const SessionUser& user, bool keep_ptrace) {
  if (user.uid == 0) return;
  const std::string what = "session user " + user.name;
  if (keep_ptrace && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    throw_errno("prctl(PR_SET_KEEPCAPS)", what);
  if (::setgroups(user.groups.size(), user.groups.data()) != 0) throw_errno("setgroups", what);
  if (::setresgid(user.gid, user.gid, user.gid) != 0) throw_errno("setresgid", what);
  if (::setresuid(user.uid, user.uid, user.uid) != 0) throw_errno("setresuid", what);
  if (!keep_ptrace) return;
  // Only CAP_SYS_PTRACE stays, and through the exec (ambient): the session's programs, the
  // same user without it, cannot ptrace a deja exec whose stdin is the user's terminal.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  data[0].permitted = data[0].effective = data[0].inheritable = 1u << CAP_SYS_PTRACE;
  if (::syscall(SYS_capset, &header, data) != 0) throw_errno("capset", what);
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_PTRACE, 0, 0) != 0)
    throw_errno("prctl(PR_CAP_AMBIENT_RAISE)", what);
}

}  // namespace deja::recorder
