// A session's user namespace: its ids 0..count-1 are a range of unprivileged host ids, so its
// root is nobody on the host, and the mounts the container was built with are locked. The map
// is kept in the session's files (.deja/idmap, out of the session's reach), so a snapshot
// carries it and a branch gets the same namespace its files' owners need.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace deja::recorder {

struct IdMap {
  uint32_t host_uid = 0;  // the host uid of the session's uid 0
  uint32_t host_gid = 0;
  uint32_t count = 0;  // 0: no user namespace, the session's root is the host's
  bool enabled() const { return count != 0; }
};

/// The range a new session gets: the entry for user "deja" in /etc/subuid and /etc/subgid
/// when the host has one, else kDefaultHostId.. (65536 ids: programs' own users, nobody).
inline constexpr uint32_t kDefaultHostId = 0x6fff0000;  // top of systemd's container ranges
inline constexpr uint32_t kIdCount = 65536;
IdMap default_id_map();

/// The session's map, from `files` (a session's subvolume or a snapshot of one); disabled
/// when it has none (a session recorded without a user namespace).
IdMap read_id_map(const std::string& files);
void write_id_map(const std::string& files, const IdMap& map);

/// Writes /proc/PID/uid_map and gid_map of a process just created in a new user namespace.
void write_process_id_map(pid_t pid, const IdMap& map);

/// Gives the session's own folders (home, tmp, var-tmp, run and what is in them) to its
/// root, leaving the mount point .deja the host's.
void give_session_files(const std::string& files, const IdMap& map);
/// Makes the calling process, just entered into the session's user namespace, its root
/// (the host's supplementary groups dropped).
void become_session_root();

}  // namespace deja::recorder
