// Captures one live process whose threads are all held by Tracees: task attributes, threads,
// signal dispositions (through injected syscalls), mappings and their pages, and fds. Each
// kind of kernel object is captured by its file in kmod/objects/; this is the order.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "kmod/CaptureWorkerThread.h"
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
  /// The same, with /proc/PID/status and stat as the caller read them while the tree was
  /// held (they are not read again).
  ProcessCapture(HostPid pid, std::vector<Tracee>& threads, const std::map<HostPid, VPid>& vpids,
                 ObjectCapture& objects, ProcessTracking* tracking, procfs::Status status,
                 const procfs::Stat& stat);

  ~ProcessCapture();

  /// Fills `out`; pipes and shared-memory objects met for the first time in the tree are
  /// appended to `tree.pipes` and `tree.shmems`.
  void run(ProcessState& out, TreeState& tree);
  /// run() in two halves, so that the injected syscalls of many processes overlap: begin()
  /// reads the task, its threads and signals and, with `overlap` (and the engine's pages in
  /// the process), sets the process off on its first batch of injected syscalls without
  /// waiting; finish() collects them and reads mappings, pages and fds. `out` must stay
  /// where it is in between.
  void begin(ProcessState& out, bool overlap);
  void finish(ProcessState& out, TreeState& tree);
  /// Between begin() and finish(): the mappings and the tracked pages, and the fds, are read
  /// on `thread` (or by finish() itself if the thread has not started on them by then).
  void hand_to(CaptureWorkerThread& thread, ProcessState& out, TreeState& tree);
  /// Between begin() and finish(), overlapped: collects the process's batch of injected
  /// queries if its thread has run it and sets the next one off (the next part of the list,
  /// or the next thread's own), without waiting. True once none is left. Polling every
  /// process in turn lets their threads run their batches side by side.
  bool advance_queries();
  /// Time finish() spent finding and copying pages, or waiting for `thread` to (a part of the
  /// checkpoint's downtime).
  double pages_ms() const { return pages_ms_; }

 private:
  /// State only the process itself can report, read by injected syscalls.
  void injected(ProcessState& p, bool overlap);
  /// The host tids of the threads held, in order.
  std::vector<HostPid> thread_ids() const;
  /// The answers of the last capture, taken instead of asking (ProcessTracking::answers).
  void take_kept_answers(const ProcessTracking::TaskAnswers& a, ProcessState& p);
  /// Keeps `p`'s answers for the next capture.
  void keep_answers(const ProcessState& p);
  /// The queries, from the engine's pages (the process has them): in batches set off
  /// without waiting with `overlap`, else run at once.
  void ask_process(ProcessState& p, bool overlap);
  /// Each thread's queries, into thread_queries_: the leader's with the process's.
  void queue_queries(ProcessState& p);
  /// Each kind's queries, run at once, their results at `scratch`.
  void ask_all(ProcessState& p, RemotePtr scratch);
  /// The overlapped queries: sets off the batch at (thread_, at_), moving past threads with
  /// none left; and collects the one in progress, waiting for it.
  void start_next_batch();
  void collect_batch(const std::vector<long>& results);
  /// Runs `queries` in thread `t` (in batches, from the engine's pages when
  /// the process has them), their outputs at scratch_, and hands each its answer.
  void ask(Tracee& t, std::vector<Query>& queries, const RemoteMemory& mem);
  static std::vector<RemoteSyscalls::Call> calls_for(std::vector<Query>& queries, size_t at,
                                                     size_t n, RemotePtr scratch);
  static void take_answers(Tracee& t, std::vector<Query>& queries, size_t at,
                           const std::vector<long>& results, RemotePtr scratch,
                           const RemoteMemory& mem);

  static constexpr size_t kQueryOut = 32;  // room for each output: sigaction, itimerval, stack_t
  static constexpr size_t kQueriesAtOnce = 20;
  // The stub's wait between looks for a batch collected later (40 of them: 0.8 s).
  static constexpr long kOverlapWaitNs = 20'000'000;
  /// The fd table: each fd to the kind of object it is open on.
  void files(ProcessState& p, TreeState& tree);
  /// What needs neither ptrace nor the memory: the task's attributes read from other files of
  /// /proc, then files(), holding the tree's objects (another process's may be read on the
  /// other thread).
  void untraced_half(ProcessState& p, TreeState& tree);
  /// The half that needs no ptrace: mappings, and the pages of those the tracker covers.
  void read_memory(ProcessState& p);

  CaptureContext ctx_;
  ObjectCapture& objects_;
  double pages_ms_ = 0;
  RemotePtr scratch_;
  // Each thread's queries (the process's with the leader's); overlapped, the thread whose
  // batch is in progress in started_, and where in its list that batch begins.
  std::vector<std::vector<Query>> thread_queries_;
  size_t thread_ = 0, at_ = 0, batch_ = 0;
  std::unique_ptr<RemoteSyscalls> started_;
  bool overlapped_ = false;                    // begin() queued the queries for finish()
  CaptureWorkerThread* worker_ = nullptr;  // read_memory() and untraced_half() were handed to it
  CaptureWorkerThread::Job memory_job_, files_job_;
  std::vector<bool> taken_;  // of out.vmas, those whose pages read_memory() took
};

}  // namespace deja::kmod
