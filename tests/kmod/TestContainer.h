// A minimal session container for the engine's tests, until the recorder's lands: new PID,
// mount, network and IPC namespaces, its own devpts instance, its own cgroup v2 group, a private bind mount of a work folder and
// a fresh /proc. Killing the group on destruction cleans up even after a failed test.
#pragma once

#include <chrono>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "kmod/PageTracking.h"
#include "kmod/TreeState.h"
#include "kmod/Types.h"

namespace deja::kmod::test {

class TestContainer {
 public:
  /// Starts the container: its PID 1 binds `work_source` over `work_dir`, mounts /proc and
  /// runs `body` (which must not return: exec or _exit).
  TestContainer(const std::string& name, const std::string& work_source,
                const std::string& work_dir, const std::function<void()>& body);
  TestContainer(const TestContainer&) = delete;
  TestContainer& operator=(const TestContainer&) = delete;
  ~TestContainer();

  HostPid pid() const { return pid_; }
  const std::string& cgroup() const { return cgroup_; }
  /// Waits for PID 1 to exit; nullopt on timeout. Returns the wait status.
  std::optional<int> wait(double timeout_s);

 private:
  std::string cgroup_;
  HostPid pid_;
  bool reaped_ = false;
};

/// A python3 program run as PID 1 of a TestContainer, given its work folder (made here and
/// removed when this goes) as its argument; it writes files there to say where it is.
class PythonInContainer {
 public:
  PythonInContainer(const std::string& name, const char* program);
  ~PythonInContainer();
  PythonInContainer(const PythonInContainer&) = delete;
  PythonInContainer& operator=(const PythonInContainer&) = delete;

  /// Waits up to 10 s for the program to write `file`; false if it never did.
  bool wait_for(const std::string& file) const;
  /// The text of the program's `file`, "" while there is none.
  std::string read(const std::string& file) const;
  HostPid pid() const { return container_->pid(); }
  const std::string& cgroup() const { return container_->cgroup(); }
  /// The recorder's steps for one checkpoint, up to the end of the capture: prepare(),
  /// `ahead` while the session runs, freeze, capture, `frozen` while it is still frozen.
  TreeState checkpoint(PageTracking& tracking, Crid crid, const std::function<void()>& ahead,
                       const std::function<void()>& frozen = [] {}) const;

 private:
  std::string work_;
  std::unique_ptr<TestContainer> container_;
};

/// Milliseconds since `t`, for the harness's and the benchmark's reports.
double ms_since(std::chrono::steady_clock::time_point t);
/// A file's text, or "" while it does not exist yet (a program's log before it starts).
std::string read_or_empty(const std::string& path);

}  // namespace deja::kmod::test
