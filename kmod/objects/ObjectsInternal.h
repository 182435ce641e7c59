// Helpers the object files of this folder share; not part of the engine's interface.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/Error.h"
#include "base/Files.h"
#include "kmod/objects/FdObjects.h"

namespace deja::kmod {

class ProcessFill;

namespace objects {

/// /proc/PID/fdinfo/FD of `site` as text, and the value after `key` on its line ("" when
/// absent).
const std::string& fdinfo_text(const FdSite& site);
std::string fdinfo_value(const std::string& text, const std::string& key);
/// The lines of /proc/PID/fdinfo/FD that start with `prefix` (an epoll's targets, an
/// inotify instance's watches).
std::vector<std::string> fdinfo_lines(const FdSite& site, std::string_view prefix);

/// getsockopt / setsockopt of an int option of socket `fd`; `opt` names the option in errors.
int get_sockopt(int fd, int level, int name, const char* opt, const std::string& what);
void set_sockopt(int fd, int level, int name, int v, const char* opt, const std::string& what);

/// Moves remote fd `fd` of `p` to the lowest free number >= `min_fd` (close-on-exec), out of
/// the image's way; `what` names the call that made it, for errors.
int park(ProcessFill& p, long fd, int min_fd, const std::string& what);

/// One message of a unix socket's queue as the image keeps it (UnixQueues.cpp): its bytes,
/// its sender's credentials (when recorded; pid 0: none the receiver can see) and the
/// objects of the descriptors it carries, in order.
struct QueuedMessage {
  std::string_view bytes;
  uint32_t pid = 0, uid = 0, gid = 0;
  bool has_creds = false;
  std::vector<std::pair<FdKind, uint64_t>> fds;
};
std::vector<QueuedMessage> unpack_queue(const UnixSocketState& s);

/// Message records of the IPC kinds: a u64 appended, or taken from the front of `in`
/// (throwing that `what` has a truncated message).
inline void append_u64(std::string& out, uint64_t v) {
  out.append(reinterpret_cast<const char*>(&v), 8);
}
inline uint64_t take_u64(std::string_view& in, const std::string& what) {
  if (in.size() < 8) throw Error("image: " + what + " has a truncated message");
  uint64_t v;
  std::memcpy(&v, in.data(), 8);
  in.remove_prefix(8);
  return v;
}

/// Runs `fn` in a short-lived engine thread that has entered the IPC namespace of `pid`
/// (SysvIpc.cpp); rethrows what it threw.
void in_ipc_namespace(HostPid pid, const std::function<void()>& fn);

/// A TCP or UDP socket of `family` (AF_INET, AF_INET6) through `fd`, a copy of it; a TCP
/// connection's queues are peeked in repair mode, which the original leaves untouched.
InetSocketState capture_inet_socket(const FdSite& site, int fd, uint64_t inode, int family);
EpollState capture_epoll(const FdSite& site, uint64_t id);
EventState capture_event(const FdSite& site, EventKind kind, uint64_t id);
/// Each watch resolved to a path of the session (relative to the process's root).
InotifyState capture_inotify(const FdSite& site, uint64_t id);

/// The index of the pty whose master is open at `site` (TIOCGPTN), or whose slave it is.
uint32_t pty_index(const FdSite& site);
uint32_t slave_index(const FdSite& site);
/// Opens the slave of `f` in `p` at `f.fd`, as the process had it (never as a new ctty).
void open_slave(ProcessFill& p, const FdState& f);

}  // namespace objects
}  // namespace deja::kmod
