// Helpers the object files of this folder share; not part of the engine's interface.
#pragma once

#include <string>

#include "base/Files.h"
#include "kmod/objects/FdObjects.h"

namespace deja::kmod {

class ProcessFill;

namespace objects {

/// /proc/PID/fdinfo/FD as text, and the value after `key` on its line ("" when absent).
std::string fdinfo_text(HostPid pid, int fd);
std::string fdinfo_value(const std::string& text, const std::string& key);

/// Moves remote fd `fd` of `p` to the lowest free number >= `min_fd` (close-on-exec), out of
/// the image's way; `what` names the call that made it, for errors.
int park(ProcessFill& p, long fd, int min_fd, const std::string& what);

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
