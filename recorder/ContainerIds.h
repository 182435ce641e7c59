// A session's user namespace: its ids 0..count-1 are a range of unprivileged host ids, so its
// root is nobody on the host, and the mounts the container was built with are locked. The map
// is kept in the session's files (.deja/idmap, out of the session's reach), so a snapshot
// carries it and a branch gets the same namespace its files' owners need.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace deja::recorder {

struct IdMap {
  uint32_t host_uid = 0;  // the host uid of the session's uid 0
  uint32_t host_gid = 0;
  uint32_t count = 0;  // 0: no user namespace, the session's root is the host's
  // The user the session's programs (and deja exec) run as, inside; 0: the session's root.
  uint32_t user_uid = 0;
  uint32_t user_gid = 0;
  bool enabled() const { return count != 0; }
};

/// Who a session's programs run as, inside its user namespace (ids as the session has them).
struct SessionUser {
  std::string name = "root";
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<gid_t> groups;  // supplementary, those the session's ids hold
};

/// The range a new session gets: the entry for user "deja" in /etc/subuid and /etc/subgid
/// (or the files $DEJA_SUBUID and $DEJA_SUBGID name) when the host has one, else
/// kDefaultHostId.. (65536 ids: programs' own users, nobody). A malformed entry is a clear
/// Error naming the file and the line.
inline constexpr uint32_t kDefaultHostId = 0x6fff0000;  // top of systemd's container ranges
inline constexpr uint32_t kIdCount = 65536;
IdMap default_id_map();
/// The files default_id_map reads.
std::string subuid_file();
std::string subgid_file();

/// The user a new session runs as: `name` (deja record --user) when given, else the one who
/// asked (the real uid when not root, SUDO_UID under sudo), else the session's root. A clear
/// Error for an unknown user or one whose uid or gid the session's ids do not hold.
SessionUser session_user(const std::string& name);
/// The user a session with `map` runs as, with its groups as the host lists them now.
SessionUser user_of(const IdMap& map);

/// The session's map, from `files` (a session's subvolume or a snapshot of one); disabled
/// when it has none (a session recorded without a user namespace).
IdMap read_id_map(const std::string& files);
void write_id_map(const std::string& files, const IdMap& map);

/// Writes /proc/PID/uid_map and gid_map of a process just created in a new user namespace.
void write_process_id_map(pid_t pid, const IdMap& map);

/// Gives the session's own folders (home, tmp, var-tmp, run and what is in them) to its
/// root, and `user_dirs` (host paths in it: the home, ...) to its user, leaving the mount
/// point .deja the host's.
void give_session_files(const std::string& files, const IdMap& map,
                        const std::vector<std::string>& user_dirs);
/// Makes the calling process, just entered into the session's user namespace, its root
/// (the host's supplementary groups dropped).
void become_session_root();
/// Makes the session's root `user` (nothing for root itself). `keep_ptrace` (deja exec,
/// already confined): CAP_SYS_PTRACE stays, through the exec.
void become_session_user(const SessionUser& user, bool keep_ptrace = false);

}  // namespace deja::recorder
