// Captures one live process whose threads are all held by Tracees: task attributes, threads,
// signal dispositions (through injected syscalls), mappings and their pages, and fds. Each
// kind of kernel object is captured by its file in kmod/objects/; this is the order.
#pragma once

#include <map>
#include <vector>

#include "kmod/PageTracking.h"
#include "kmod/TreeState.h"
#include "kmod/inject/Tracee.h"
#include "kmod/objects/Context.h"
#include "kmod/objects/FdObjects.h"

namespace deja::kmod {

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
  /// State only the process itself can report, read by injected syscalls.
  void injected(ProcessState& p);
  /// Each kind's queries, their results at `scratch`.
  void ask_all(ProcessState& p, RemotePtr scratch);
  /// Runs `queries` in thread `t` (in batches, from the engine's pages when the process has
  /// them), their outputs at `scratch`, and hands each its answer.
  void ask(Tracee& t, std::vector<Query>& queries, RemotePtr scratch, const RemoteMemory& mem);
  /// The fd table: each fd to the kind of object it is open on.
  void files(ProcessState& p, TreeState& tree);

  CaptureContext ctx_;
  ObjectCapture& objects_;
  double pages_ms_ = 0;
};

}  // namespace deja::kmod
