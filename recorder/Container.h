// The session container: new PID, mount, UTS, IPC and network (loopback only) namespaces and
// the session's cgroup. The host's folders are visible read-only; the session's home, /tmp,
// /var/tmp and /run are bind mounts of folders in the session's btrfs subvolume, so a
// snapshot of that subvolume holds everything the session can write.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "base/ScopedFd.h"

namespace deja::recorder {

struct ContainerSpec {
  std::string files;  // host path of the session's subvolume
  std::string home;   // the session's home inside the container
  std::string hostname;
  std::string store_dir;   // hidden inside the container
  std::string store_root;  // the store's btrfs mount, detached inside when it is a loop mount
  bool store_loop_backed = false;
  int cgroup_fd = -1;  // the session's cgroup (clone3 CLONE_INTO_CGROUP)
};

/// The container's first process, as seen from the host.
struct ContainerInit {
  pid_t pid = -1;
  ScopedFd pidfd;
};

/// Lays out a new subvolume's folders (home, tmp, var-tmp, run, .deja).
void prepare_session_files(const std::string& files);

/// The paths inside a subvolume that are mounted into the container.
std::string session_log_path(const std::string& files);

/// Starts PID 1 of a new container. `payload` runs inside, after the mounts are in place,
/// with cwd at the session's home; it must exec or _exit. If it fails it writes one line to
/// `error_fd` (close-on-exec) before exiting, which start_container turns into an Error.
ContainerInit start_container(const ContainerSpec& spec,
                              const std::function<void(int error_fd)>& payload);

}  // namespace deja::recorder
