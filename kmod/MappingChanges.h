// Which processes of a session changed their mappings since a mark. Every change to a
// process's mappings (mmap, munmap, mprotect, mremap, brk, madvise, mlock, a stack growing)
// takes its mm's write lock, and the kernel's mmap_lock tracepoint, sampled for the session's
// cgroup on each CPU, names the thread that took it. A process not named since the mark has
// the mappings it had then: the capture under the freeze uses those read after the mark
// instead of reading /proc/PID/maps again (2,000 lines for a desktop).
//
// Only the session's own threads are seen. What changes a process's mappings from outside
// (the engine's own injected calls under the freeze, a debugger) is not, and must happen
// before the mark or after the capture.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/ScopedFd.h"
#include "kmod/Types.h"

namespace deja::kmod {

class MappingChanges {
 public:
  /// Watches cgroup v2 group `cgroup_dir` and its descendants. Throws Error saying what the
  /// kernel lacks (tracefs, the tracepoint, perf events for cgroups).
  explicit MappingChanges(const std::string& cgroup_dir);
  ~MappingChanges();
  MappingChanges(const MappingChanges&) = delete;
  MappingChanges& operator=(const MappingChanges&) = delete;

  /// Forgets every change seen so far.
  void mark();
  /// Processes (host thread group ids) that changed their mappings since mark(); nullopt when
  /// the kernel dropped some of its records meanwhile (any process may have).
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
  std::set<HostPid> changed_;
  bool lost_ = false;
};

/// The id of tracepoint `system`/`event` (e.g. "mmap_lock", "mmap_lock_acquire_returned"),
/// from tracefs; where tracefs is not mounted, a child process mounts it in a mount namespace
/// of its own, so nothing stays mounted. Throws Error.
uint64_t tracepoint_id(const std::string& system, const std::string& event);

}  // namespace deja::kmod
