// Which pages of one process were written since the last checkpoint, on kernels without
// soft-dirty bits: a userfaultfd in write-protect async mode registered over the process's
// private mappings, read back with the PAGEMAP_SCAN ioctl, which returns the written pages
// and write-protects them again in the same call. A write to a protected page costs the
// process one minor fault (resolved by the kernel, no thread of ours involved) and sets the
// page's "written" bit.
//
// The userfaultfd must belong to the process's mm, so it is made inside the process by an
// injected syscall; the recorder takes a copy with pidfd_getfd and closes the process's own
// descriptor again at once (all while the process is held). The session therefore never holds
// it: capture never meets it among the process's fds and a revive has nothing to recreate.
// Closing the recorder's copy (this object, or the recorder dying) unregisters everything
// and leaves the process running unprotected.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/ScopedFd.h"
#include "kmod/Types.h"
#include "kmod/inject/RemoteSyscalls.h"

namespace deja::kmod {

/// Pages [start, end) of a process, page-aligned.
struct PageRange {
  uint64_t start = 0, end = 0;
};

class DirtyTracker {
 public:
  /// Makes the userfaultfd inside the process that `rs` runs syscalls in (its threads must
  /// be held) and keeps the only remaining reference.
  DirtyTracker(HostPid pid, RemoteSyscalls& rs);
  DirtyTracker(const DirtyTracker&) = delete;
  DirtyTracker& operator=(const DirtyTracker&) = delete;

  enum class Track { kTracked, kUntrackable, kMmGone };
  /// Registers the mapping [start, end) and write-protects every page of it. kUntrackable:
  /// the kernel refuses this mapping (another userfaultfd owns it, ...): capture it in full
  /// every time. kMmGone: the process exec'd since this tracker was made.
  Track track(uint64_t start, uint64_t end);

  struct Pages {
    std::vector<PageRange> written;    // protected again by the same call
    std::vector<PageRange> unchanged;  // not written, and still data of the process's own
  };
  /// One pass over [start, end): the pages written since the last call, and the unwritten
  /// ones that still hold a page of the process's own (present, neither the shared zero page
  /// nor, when `file_backed`, a file's page), i.e. what may still be referenced in older
  /// images. nullopt when the mapping is not registered with write-protect (it appeared,
  /// moved or was replaced since the last checkpoint, or the process exec'd). `pagemap` is
  /// /proc/PID/pagemap opened now.
  std::optional<Pages> take_written(int pagemap, uint64_t start, uint64_t end, bool file_backed);
  /// Whether every mapping of [start, end) is registered in write-protect mode: a walk of the
  /// mappings alone, no page is looked at or protected.
  bool tracks(int pagemap, uint64_t start, uint64_t end);
  /// How many pages of [start, end) were written, counting up to `limit` (`limit` when the
  /// range is not tracked), without protecting anything: the cheap "did anything change"
  /// probe run while the session runs.
  uint64_t written(int pagemap, uint64_t start, uint64_t end, uint64_t limit);

 private:
  std::string name() const;
  HostPid pid_;
  ScopedFd uffd_;
};

}  // namespace deja::kmod
