// A session's cgroup v2 group: every process of the session lives in it, so the whole
// session can be frozen, listed and killed at once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/ScopedFd.h"

namespace deja {

/// The cgroup v2 mount point, read from /proc/self/mountinfo (hybrid layouts put it at
/// /sys/fs/cgroup/unified, pure v2 at /sys/fs/cgroup).
std::string cgroup2_mount();

class Cgroup {
 public:
  /// Creates (or adopts, when it exists) the group at `path`.
  static Cgroup create(const std::string& path);
  /// Opens an existing group; throws when it does not exist.
  static Cgroup open(const std::string& path);

  const std::string& path() const { return path_; }
  /// An O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP).
  int dir_fd() const { return dir_.get(); }
  std::vector<pid_t> procs() const;
  bool empty() const { return procs().empty(); }
  bool contains(pid_t pid) const;

  void set_frozen(bool frozen);
  /// Waits until cgroup.events reports `frozen` equal to the wanted value.
  void wait_frozen(bool frozen, std::chrono::milliseconds timeout);
  /// SIGKILLs every process in the group (cgroup.kill).
  void kill_all();
  /// Removes the (empty) group.
  void remove();
  /// Ends the group: thaws it (a frozen process would not die), kills every process in it,
  /// waits up to 5 s for them to be gone, and removes it.
  void end();

 private:
  std::string path_;
  ScopedFd dir_;
};

/// The frozen state of a session: freezing on construction, thawing on destruction, so no
/// error path can leave a session frozen.
class FrozenCgroup {
 public:
  explicit FrozenCgroup(Cgroup& cg);
  FrozenCgroup(const FrozenCgroup&) = delete;
  FrozenCgroup& operator=(const FrozenCgroup&) = delete;
  ~FrozenCgroup();
  /// Thaws now (and reports errors), rather than in the destructor.
  void thaw();

 private:
  Cgroup& cg_;
  bool frozen_ = false;
};

}  // namespace deja
