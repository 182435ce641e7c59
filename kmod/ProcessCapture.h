// Captures one live process whose threads are all held by Tracees: task attributes, threads,
// signal dispositions (through injected syscalls), mappings and their pages, and fds.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "kmod/PageTracking.h"
#include "kmod/RemoteMemory.h"
#include "kmod/RemoteSyscalls.h"
#include "kmod/Tracee.h"
#include "kmod/TreeState.h"
#include "kmod/objects/FdObjects.h"

namespace deja::kmod {

/// Signals (bit sig - 1) that `pid` catches or ignores, from /proc/PID/status.
uint64_t non_default_signals(HostPid pid);

/// "CapInh CapPrm CapEff CapBnd CapAmb" of a /proc/PID/status map, compared after a revive.
std::string capability_sets(std::map<std::string, std::string>& status);

struct Query;

class ProcessCapture {
 public:
  /// `threads[0]` is the thread group leader. `vpids` maps every host PID of the tree to
  /// its PID in the session's namespace (parents outside the tree become 0).
  /// `tracking`, when given, makes the capture incremental: only pages written since the
  /// last committed checkpoint are read (the rest are listed in tracking->unchanged), and
  /// mappings not tracked yet are registered with the process's dirty tracker.
  /// `objects` records the sockets, event fds, epolls and terminals of the whole tree.
  ProcessCapture(HostPid pid, std::vector<Tracee>& threads, const std::map<HostPid, VPid>& vpids,
                 ObjectCapture& objects, ProcessTracking* tracking = nullptr);

  /// Fills `out`; pipes and shared-memory objects met for the first time in the tree are
  /// appended to `tree.pipes` and `tree.shmems`.
  void run(ProcessState& out, TreeState& tree);
  /// Time run() spent finding and copying pages (a part of the checkpoint's downtime).
  double pages_ms() const { return pages_ms_; }

 private:
  std::string name() const;  // "process 12 (comm, host pid 3456)"
  std::string relative(const std::string& path, const std::string& what) const;
  void task_attributes(ProcessState& p);
  void threads(ProcessState& p);
  void injected(ProcessState& p);
  /// Process-wide and per-thread state read by injected syscalls, results at `scratch`.
  void process_state(ProcessState& p, RemotePtr scratch);
  /// Runs `queries` in thread `t` (in batches, from the engine's pages when the process has
  /// them), their outputs at `scratch`, and hands each its answer.
  void ask(Tracee& t, std::vector<Query>& queries, RemotePtr scratch,
           const RemoteMemory& mem);
  /// A scope for injected syscalls in `t`: from the engine's pages when the process has them.
  std::unique_ptr<RemoteSyscalls> injector(Tracee& t) const;
  void mappings(ProcessState& p);
  uint32_t advice(const std::string& vm_flags, const std::string& what) const;
  void pages(ProcessState& p);
  /// Pages of mapping `v` when it is tracked; false when it is not (read it in full).
  bool tracked_pages(const Vma& v, const RemoteMemory& mem, int pagemap);
  /// Copies `ranges` of `v` into the tracking buffer, as pages of this capture.
  void copy_now(const Vma& v, const std::vector<PageRange>& ranges, const RemoteMemory& mem);
  /// Adds the pages of `v` that prepare() copied and `unchanged` says were not written since
  /// to the capture's copies, and the rest of `unchanged` to the pages to refer to.
  void keep_precopied(const Vma& v, const std::vector<PageRange>& unchanged,
                      const RemoteMemory& mem);
  /// The tracker's written and unchanged pages of `v`; nullopt when it is not tracked.
  std::optional<DirtyTracker::Pages> scan_written(const Vma& v, int pagemap);
  /// Registers `v` with the dirty tracker (made, or made again after an exec, on demand).
  void start_tracking(const Vma& v);
  /// Reads the pages of `window` the pagemap says hold something (not past `eof`, the
  /// address where a mapped file ends, unless present) into `p.pages`.
  void window_pages(ProcessState& p, const RemoteMemory& mem, int pagemap, const std::string& pm,
                    PageRange window, uint64_t eof, bool anon, std::vector<uint64_t>& entries);
  void files(ProcessState& p, TreeState& tree);
  /// Records the shared-memory object behind `path` (a map_files or fd link) once per tree.
  void shmem_object(const std::string& path, uint64_t id, const std::string& link_text,
                    TreeState& tree);
  PipeState pipe_contents(int fd, uint64_t id) const;

  HostPid pid_;
  std::vector<Tracee>& threads_;
  const std::map<HostPid, VPid>& vpids_;
  std::string root_;  // the process's root as this process sees it
  std::string comm_;
  VPid vpid_;
  uint64_t vdso_start_ = 0, vdso_end_ = 0;
  RemotePtr syscall_insn_;
  ObjectCapture& objects_;
  ProcessTracking* tracking_;
  double pages_ms_ = 0;
};

}  // namespace deja::kmod
