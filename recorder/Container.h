// The session container: new PID, mount, UTS, IPC, cgroup and network (loopback only)
// namespaces and the session's cgroups. The host's folders are visible read-only, less its
// secrets and devices (ContainerView.h); the session's home, /tmp, /var/tmp and /run are bind
// mounts of folders in the session's btrfs subvolume, so a snapshot of that subvolume holds
// everything the session can write.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "base/ScopedFd.h"
#include "recorder/ContainerIds.h"

namespace deja::recorder {

struct ContainerSpec {
  std::string files;  // host path of the session's subvolume
  std::string home;   // the session's home inside the container
  std::string hostname;
  std::string store_dir;   // hidden inside the container
  std::string store_root;  // the store's btrfs mount, detached inside when it is a loop mount
  bool store_loop_backed = false;
  int cgroup_fd = -1;  // the session's cgroup (clone3 CLONE_INTO_CGROUP)
  /// cgroup.procs files of the session's cgroup v1 groups (limits on hybrid hosts).
  std::vector<std::string> join_cgroups;
  /// Drop capabilities and set no_new_privs before the payload. Off for a revive: its
  /// skeleton needs them to restore, and each process gets back the ones it had.
  bool confine = true;
  /// The session's user namespace (ContainerIds.h); disabled: the session's root is the host's.
  IdMap ids;
};

/// The container's first process, as seen from the host.
struct ContainerInit {
  pid_t pid = -1;
  ScopedFd pidfd;
};

/// A container that has started but is not yet handed over to its recorder: unless released,
/// ending this kills everything in the session's cgroup and reaps its init, so a failure
/// after the start leaves no orphan container behind.
class StartedContainer {
 public:
  StartedContainer(std::string cgroup_path, pid_t init_pid)
      : cgroup_path_(std::move(cgroup_path)), init_pid_(init_pid) {}
  StartedContainer(const StartedContainer&) = delete;
  StartedContainer& operator=(const StartedContainer&) = delete;
  ~StartedContainer();
  void release() { init_pid_ = -1; }

 private:
  std::string cgroup_path_;
  pid_t init_pid_;
};

/// Lays out a new subvolume's folders (home, tmp, var-tmp, run, .deja).
void prepare_session_files(const std::string& files);

/// The paths inside a subvolume that are mounted into the container.
std::string session_log_path(const std::string& files);

/// Starts PID 1 of a new container. `payload` runs inside, after the mounts are in place,
/// with cwd at the session's home; it must exec or _exit. If it fails it writes one line to
/// `error_fd` (close-on-exec) before exiting, which start_container turns into an Error.
/// The container is built in two steps: a short-lived builder, host root in a mount namespace
/// of its own, lays out the root (ContainerView.h); PID 1 is then cloned from it, as our
/// child, into the new namespaces (a user namespace too with `spec.ids`: every mount the
/// builder made is then locked), and only mounts /proc and pivots into that root.
/// `meanwhile`, if given, runs here while PID 1 sets itself up; if it throws, PID 1 is killed
/// and reaped before the error goes on.
ContainerInit start_container(const ContainerSpec& spec,
                              const std::function<void(int error_fd)>& payload,
                              const std::function<void()>& meanwhile = {});

}  // namespace deja::recorder
