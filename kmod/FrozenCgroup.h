// A cgroup v2 group held frozen (cgroup.freeze = 1) for as long as this object lives.
#pragma once

#include <string>

namespace deja::kmod {

class FrozenCgroup {
 public:
  /// Freezes `dir` (a cgroup v2 folder) and waits until cgroup.events says "frozen 1".
  explicit FrozenCgroup(std::string dir);
  FrozenCgroup(const FrozenCgroup&) = delete;
  FrozenCgroup& operator=(const FrozenCgroup&) = delete;
  ~FrozenCgroup();

  /// Thaws now (the destructor then does nothing).
  void thaw();

 private:
  std::string dir_;
  bool frozen_ = false;
};

/// The cgroup v2 mount point, from /proc/self/mountinfo.
std::string cgroup2_mount();

}  // namespace deja::kmod
