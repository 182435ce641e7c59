#include "kmod/MemoryCaptureThread.h"

#include <algorithm>

namespace deja::kmod {

namespace {

// Runs `job`, taken out of the queue, with `lock` released meanwhile.
void run(MemoryCaptureThread::Job& job, std::unique_lock<std::mutex>& lock) {
  job.state = MemoryCaptureThread::Job::State::kRunning;
  lock.unlock();
  try {
    job.work();
  } catch (...) {
    job.error = std::current_exception();
  }
  lock.lock();
  job.state = MemoryCaptureThread::Job::State::kDone;
}

}  // namespace

MemoryCaptureThread::MemoryCaptureThread() : thread_([this] { loop(); }) {}

MemoryCaptureThread::~MemoryCaptureThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void MemoryCaptureThread::post(Job& job) {
  {
    std::lock_guard lock(mu_);
    job.state = Job::State::kQueued;
    queue_.push_back(&job);
  }
  cv_.notify_all();
}

void MemoryCaptureThread::take(Job& job) {
  std::unique_lock lock(mu_);
  if (job.state == Job::State::kQueued) {
    // Not started: the caller does it; out of the queue, as the job may be gone by the time
    // the thread would reach it.
    queue_.erase(std::find(queue_.begin(), queue_.end(), &job));
    run(job, lock);
  } else {
    // Rather than wait for the thread, take the jobs it would reach last: the two threads
    // then end together (the memory half was the longer one on the desktop, 11 ms against
    // 8, and the tracer waited out the difference).
    while (job.state != Job::State::kDone) {
      if (queue_.empty()) {
        cv_.wait(lock, [&] { return job.state == Job::State::kDone; });
        break;
      }
      Job* other = queue_.back();
      queue_.pop_back();
      run(*other, lock);
    }
  }
  if (job.error) std::rethrow_exception(job.error);
}

void MemoryCaptureThread::loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Job* job = queue_.front();
    queue_.pop_front();
    run(*job, lock);
    cv_.notify_all();
  }
}

}  // namespace deja::kmod
