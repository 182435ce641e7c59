// Capture of a session's process tree: the public entry points the recorder calls.
//
//   FrozenCgroup freeze(cgroup);                      // base/Cgroup.h
//   TreeState state = capture_tree(init, cgroup_dir, {crid, parent});
//   freeze.thaw();
//   write_image(state, path);                         // after the thaw, off the hot path
//
// Capture fails (deja::Error) on anything the engine cannot bring back exactly, naming the
// process, the fd or mapping, and what it is; the tree is left as it was either way.
#pragma once

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/Error.h"
#include "kmod/PageTracking.h"
#include "kmod/TreeCodec.h"
#include "kmod/TreeState.h"
#include "kmod/Types.h"

namespace deja::kmod {

/// A state that passes by itself within milliseconds (a vfork child sharing its parent's
/// address space until it execs): thaw, and try the checkpoint again shortly.
class TransientState : public Error {
 public:
  using Error::Error;
};

/// Live processes (host PID, start time) found to share no address space, fd table, fs
/// information or signal handlers with one another while the session ran. Processes cannot
/// come to share one later (only a clone makes them share, exec and unshare only stop it),
/// so a capture need only check the processes not among them.
using UnsharedProcesses = std::set<std::pair<HostPid, uint64_t>>;
/// Checks `pids` while the session runs: empty when some of them share a resource, or one
/// exits meanwhile (the capture then checks every process).
UnsharedProcesses unshared_processes(const std::vector<HostPid>& pids);

struct CaptureOptions {
  Crid crid;
  Crid parent;
  /// Incremental capture: read only pages written since the checkpoint `tracking` last saw
  /// committed (see PageTracking.h). Null: read every page.
  PageTracking* tracking = nullptr;
  /// When given, receives the time spent finding and copying pages.
  double* pages_ms = nullptr;
  /// Called once every task is held, before anything is read: work that needs the session
  /// still (a file snapshot) can start beside the capture from there.
  std::function<void()> held;
  /// How long the session may stay held, from `frozen_at` (when the caller froze it): past
  /// that the capture gives up with FreezeLimitExceeded, leaving every task as it was, so a
  /// session of thousands of processes is thawed rather than frozen for seconds. Zero: none.
  std::chrono::steady_clock::time_point frozen_at{};
  std::chrono::milliseconds freeze_limit{0};
  /// When given, processes known not to share resources (unshared_processes()).
  const UnsharedProcesses* unshared = nullptr;
};

/// The capture took longer than CaptureOptions::freeze_limit and was abandoned.
class FreezeLimitExceeded : public Error {
 public:
  using Error::Error;
};

/// Captures every process and thread under `init` (host PID of the session's init, PID 1 of
/// its namespace) while `cgroup_dir`, the session's cgroup v2 group, is frozen.
///
/// A task resumed by ptrace inside a frozen group goes straight back into the freezer trap,
/// so injected syscalls could never run. capture_tree therefore seizes every task first (a
/// ptrace stop holds it as firmly as the freezer), thaws the group while it works, and
/// freezes it again before detaching: on return the group is frozen, no task of it ran user
/// code in between, and every task is exactly as it was (registers, masks, memory).
TreeState capture_tree(HostPid init, const std::string& cgroup_dir, const CaptureOptions& options);

/// Writes an image of `state` to `path` (fsynced); returns its size in bytes.
uint64_t write_image(const TreeState& state, const std::string& path);
/// The same, returning where each page record's data went too (for incremental chains).
ImageLayout write_image_with_layout(const TreeState& state, const std::string& path);

}  // namespace deja::kmod
