// Which processes of a session changed something since a mark, as the kernel's tracepoints
// report it, sampled for the session's cgroup on each CPU: a process not named since the mark
// still has what the capture read of it then, and the capture under the freeze need not read
// it again.
//
// Only the session's own threads are seen. What changes a process from outside (the engine's
// own injected calls under the freeze, a debugger) is not, and must happen before the mark or
// after the capture.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/ScopedFd.h"
#include "kmod/Types.h"

namespace deja::kmod {

/// Which processes of a cgroup v2 group (and its descendants) hit a kernel tracepoint since a
/// mark: the tracepoint is sampled for the group on each CPU into a ring of records naming
/// the thread.
class TracepointHits {
 public:
  /// Tracepoint `system`/`event` (tracepoint_id()) where `filter` (the kernel's filter
  /// syntax on the event's fields) holds. Throws Error saying what the kernel lacks (tracefs,
  /// the tracepoint, perf events for cgroups).
  TracepointHits(const std::string& cgroup_dir, const std::string& system, const std::string& event,
                 const std::string& filter);
  ~TracepointHits();
  TracepointHits(const TracepointHits&) = delete;
  TracepointHits& operator=(const TracepointHits&) = delete;

  /// Forgets every hit seen so far.
  void mark();
  /// Processes (host thread group ids) that hit it since mark(); nullopt when the kernel
  /// dropped some of its records meanwhile (any process may have).
  std::optional<std::set<HostPid>> since_mark();

 private:
  // One CPU's event and its ring of records.
  struct Ring {
    ScopedFd fd;
    void* base = nullptr;
    size_t bytes = 0;
  };
  void drain(Ring& r);

  std::vector<Ring> rings_;
  std::set<HostPid> hits_;
  bool lost_ = false;
};

/// Processes that changed their mappings. Every change (mmap, munmap, mprotect, mremap, brk,
/// madvise, mlock, a stack growing) takes the mm's write lock: the capture uses the mappings
/// read after the mark instead of reading /proc/PID/maps again (2,000 lines for a desktop).
class MappingChanges : public TracepointHits {
 public:
  explicit MappingChanges(const std::string& cgroup_dir);
};

/// Processes that entered a system call changing what the capture asks a process itself
/// (ProcessTracking::TaskAnswers: signal dispositions, brk, personality, prctl flags, interval
/// and POSIX timers, each thread's alternate signal stack and clear-child-tid address), or
/// that exec'd or changed credentials (which reset some of them). The kernel changes none of
/// these on its own, but for a handler installed with SA_RESETHAND and an alternate signal
/// stack, which signal delivery changes (and timers, which count down): a process with any
/// of those is always asked again.
class TaskChanges : public TracepointHits {
 public:
  explicit TaskChanges(const std::string& cgroup_dir);
};

/// The id of tracepoint `system`/`event` (e.g. "mmap_lock", "mmap_lock_acquire_returned"),
/// from tracefs; where tracefs is not mounted, a child process mounts it in a mount namespace
/// of its own, so nothing stays mounted. Throws Error.
uint64_t tracepoint_id(const std::string& system, const std::string& event);

}  // namespace deja::kmod
