// The second half of a revive for one process: turns a waiting skeleton (seized, all
// threads) into the image's process through injected syscalls. Each kind of kernel object
// is revived by its file in kmod/objects/; this is the order. Phases are separate methods
// because pipes shared between processes need every process cleared before any is filled.
#pragma once

#include <vector>

#include "kmod/TreeState.h"
#include "kmod/inject/Tracee.h"
#include "kmod/objects/Context.h"
#include "kmod/objects/FdObjects.h"

namespace deja::kmod {

class ProcessFill {
 public:
  /// `threads[i]` holds the skeleton thread for `image.threads[i]`.
  ProcessFill(const ProcessState& image, HostPid host, std::vector<Tracee> threads);
  ProcessFill(const ProcessFill&) = delete;
  ProcessFill& operator=(const ProcessFill&) = delete;
  /// Ends the injection scopes: threads get their image registers and masks back.
  ~ProcessFill();

  /// Unmaps the skeleton, moves the vDSO, maps the scratch area, closes the skeleton's fds.
  void clear();
  /// Creates shared-memory object `s` here (a memfd at an fd >= `min_fd`), filled.
  ShmemHolder hold_shmem(const ShmemState& s, int min_fd);
  /// Rebuilds every mapping and sets the mm layout; the pages come after (write_pages).
  void rebuild_memory(const ShmemHolders& shmems);
  /// The image's page extents.
  size_t page_extents() const { return ctx_.image.pages.size(); }
  const PageExtent& page_extent(size_t i) const { return ctx_.image.pages[i]; }
  /// Writes page extents [first, last) into the rebuilt mappings. Needs no ptrace (it is
  /// process_vm_writev), so it may run on any thread beside the rest of the fill.
  void write_pages(size_t first, size_t last) const;
  /// Creates pipe `p` here (both ends at fds >= `min_fd`), filled with its bytes in flight.
  PipeHolder hold_pipe(const PipeState& p, int min_fd);
  /// Controlling terminal and files. `objects` holds the sockets, event fds, epolls and
  /// terminals of the tree.
  void fill_files(const PipeHolders& pipes, const ShmemHolders& shmems, ObjectRevive& objects);
  /// Signals, process attributes, thread state, timers, credentials: once the pages are in
  /// (a thread's rseq area is among them).
  void fill_task();
  /// Closes pipe ends this process held for others.
  void release_pipe(const PipeHolder& h);
  void release_shmem(const ShmemHolder& h);
  /// Last: unmaps the scratch area, loads xsave and arranges the final registers.
  void finish();

  // For the fd objects (kmod/objects/FdObjects.h): injected syscalls in the process's leader,
  // and its scratch area for their arguments.
  std::string name() const { return ctx_.name(); }
  VPid vpid() const { return ctx_.image.pid; }
  HostPid host() const { return ctx_.host; }
  RemoteSyscalls& syscalls() { return ctx_.leader(); }
  /// Copies a syscall's struct argument into the scratch area; returns its address.
  RemotePtr put_struct(std::string_view data) { return ctx_.put(kScratchStruct, data); }
  RemotePtr put_path(const std::string& path) { return ctx_.put_string(kScratchPath, path); }
  std::string read_remote(RemotePtr at, size_t n) const { return ctx_.mem.read(at, n); }
  /// Moves fd `got` (an injected call's result) to `want`; throws naming `what` on failure.
  void place_fd(long got, int want, const std::string& what) { ctx_.place_fd(got, want, what); }

 private:
  /// The fd table: each fd reopened by the kind of object it was open on.
  void restore_fds(const PipeHolders& pipes, const ShmemHolders& shmems, ObjectRevive& objects);

  FillContext ctx_;
};

}  // namespace deja::kmod
