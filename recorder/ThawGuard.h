// A small watcher process that outlives the recorder: if the recorder dies while the session
// is frozen (killed mid-checkpoint, say), it thaws the session so the user's programs never
// stay stuck. RAII cannot cover a SIGKILL; a second process can.
#pragma once

#include <sys/types.h>

#include <string>

namespace deja::recorder {

class ThawGuard {
 public:
  /// Starts the watcher for the cgroup at `cgroup_path`, watching the calling process.
  explicit ThawGuard(const std::string& cgroup_path);
  ThawGuard(const ThawGuard&) = delete;
  ThawGuard& operator=(const ThawGuard&) = delete;
  /// The watcher ends by itself when the recorder does; nothing to undo here.
  ~ThawGuard() = default;

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace deja::recorder
