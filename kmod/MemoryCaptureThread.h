// A second thread for the half of each process's capture that needs no ptrace: its mappings
// and the pages of its tracked mappings (/proc reads, page-table scans, process_vm_readv).
// The tracer thread hands each process over after begin() and takes it back in finish(),
// so the two halves of the tree's capture run on both cores while the session is held.
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

class MemoryCaptureThread {
 public:
  struct Job {
    std::function<void()> work;
    enum class State { kIdle, kQueued, kRunning, kDone } state = State::kIdle;
    std::exception_ptr error;
  };

  MemoryCaptureThread();
  /// Drops the jobs not started, finishes the one in progress and joins.
  ~MemoryCaptureThread();
  MemoryCaptureThread(const MemoryCaptureThread&) = delete;
  MemoryCaptureThread& operator=(const MemoryCaptureThread&) = delete;

  /// Queues `job`, which must outlive this thread or be taken back with take().
  void post(Job& job);
  /// Runs `job` on the calling thread when the thread has not started it, else runs the
  /// jobs queued last (theirs take() then finds done) until the thread has ended it;
  /// rethrows what `job` threw.
  void take(Job& job);

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace deja::kmod
