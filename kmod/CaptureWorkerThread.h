// The capture's second thread, for the parts of each process's capture that need no ptrace:
// its mappings and the pages of its tracked mappings (/proc reads, page-table scans,
// process_vm_readv), and its fds (/proc reads, copies of fds, sock_diag). The tracer thread
// hands each process's parts over after begin() and takes them back in finish(), so the
// tree's capture runs on both cores while the session is held.
// A job the thread has not started by then runs on the tracer thread itself: on a busy
// machine the capture never waits for a thread that is not scheduled. Started by the
// recorder's boosted thread (base/ThreadPriority.h), it inherits the boost: at normal
// priority it fell behind on a loaded machine, and the capture waited for the job in
// progress (6-12 ms a checkpoint at load 6-7).
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace deja::kmod {

class CaptureWorkerThread {
 public:
  struct Job {
    std::function<void()> work;
    enum class State { kIdle, kQueued, kRunning, kDone } state = State::kIdle;
    std::exception_ptr error;
  };

  CaptureWorkerThread();
  /// Drops the jobs not started, finishes the one in progress and joins.
  ~CaptureWorkerThread();
  CaptureWorkerThread(const CaptureWorkerThread&) = delete;
  CaptureWorkerThread& operator=(const CaptureWorkerThread&) = delete;

  /// Queues `job`, which must outlive this thread or be taken back with take().
  void post(Job& job);
  /// The same, behind every job post() queued: the thread does it only when it has nothing
  /// else to do, else the taker does (the fds: the tracer is the shorter half on a desktop,
  /// the longer one with hundreds of idle processes).
  void post_spare(Job& job);
  /// Runs `job` on the calling thread when the thread has not started it, else runs the
  /// jobs it would reach last (theirs take() then finds done) until the thread has ended it;
  /// rethrows what `job` threw.
  void take(Job& job);

 private:
  void loop();
  void enqueue(Job& job, std::deque<Job*>& q);
  /// The queued job the thread would reach last, taken out of its queue; null when none is.
  Job* last_queued();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_, spare_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace deja::kmod
