// The capture's second thread (kmod/CaptureWorkerThread.h): every job runs exactly once,
// whether the thread or the taker runs it, and a job taken back may be destroyed at once.
// A taker waiting for a job in progress runs the queued jobs meanwhile, last first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kmod/CaptureWorkerThread.h"

namespace deja::kmod {
namespace {

TEST(CaptureWorkerThread, EveryJobRunsOnceAndTakenJobsMayGoAtOnce) {
  constexpr int kJobs = 2000;
  std::atomic<int> runs{0};
  std::vector<std::atomic<int>> ran(kJobs);
  {
    CaptureWorkerThread thread;
    std::vector<std::unique_ptr<CaptureWorkerThread::Job>> jobs;
    for (int i = 0; i < kJobs; ++i) {
      jobs.push_back(std::make_unique<CaptureWorkerThread::Job>());
      jobs.back()->work = [&, i] {
        ++ran[i];
        ++runs;
        if (i % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      };
      thread.post(*jobs.back());
      // Taken a few behind, as the capture's window does, then freed: the thread must never
      // reach a job that was taken back.
      if (i >= 3) {
        thread.take(*jobs[i - 3]);
        jobs[i - 3].reset();
      }
    }
    for (int i = kJobs - 3; i < kJobs; ++i) thread.take(*jobs[i]);
  }
  EXPECT_EQ(runs.load(), kJobs);
  for (int i = 0; i < kJobs; ++i) ASSERT_EQ(ran[i].load(), 1) << "job " << i;
}

TEST(CaptureWorkerThread, AJobsErrorReachesTheTaker) {
  CaptureWorkerThread thread;
  CaptureWorkerThread::Job job;
  job.work = [] { throw std::runtime_error("mapping gone"); };
  thread.post(job);
  try {
    thread.take(job);
    FAIL() << "take() did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "mapping gone");
  }
}

TEST(CaptureWorkerThread, ATakerWaitingRunsTheJobsQueuedLastFirst) {
  std::atomic<bool> started{false}, release{false};
  std::vector<int> order;  // of the jobs the taker ran
  std::vector<CaptureWorkerThread::Job> jobs(6);
  CaptureWorkerThread thread;
  jobs[0].work = [&] {  // holds the thread until the taker has run every other job
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  thread.post(jobs[0]);
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int i = 1; i < 6; ++i) {
    jobs[i].work = [&, i] {
      order.push_back(i);
      if (i == 2) throw std::runtime_error("job 2");
      if (i == 1) release = true;
    };
    thread.post(jobs[i]);
  }
  thread.take(jobs[0]);
  EXPECT_EQ(order, (std::vector<int>{5, 4, 3, 2, 1}));
  for (int i = 3; i < 6; ++i) EXPECT_NO_THROW(thread.take(jobs[i]));
  EXPECT_THROW(thread.take(jobs[2]), std::runtime_error);
}

// Holds `thread` in a first job until `release`; the jobs posted meanwhile queue up.
void hold(CaptureWorkerThread& thread, CaptureWorkerThread::Job& first,
          std::atomic<bool>& release) {
  std::atomic<bool> started{false};
  first.work = [&] {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  thread.post(first);
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(CaptureWorkerThread, TheThreadRunsSpareJobsAfterTheOthers) {
  std::atomic<bool> release{false};
  std::mutex mu;
  std::vector<int> order;
  std::vector<CaptureWorkerThread::Job> jobs(4);
  CaptureWorkerThread thread;
  hold(thread, jobs[0], release);
  for (int i = 1; i < 4; ++i) {
    jobs[i].work = [&, i] {
      std::lock_guard lock(mu);
      order.push_back(i);
    };
  }
  thread.post_spare(jobs[1]);
  thread.post(jobs[2]);
  thread.post(jobs[3]);
  release = true;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (order.size() == 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& j : jobs) thread.take(j);
  EXPECT_EQ(order, (std::vector<int>{2, 3, 1}));
}

TEST(CaptureWorkerThread, ATakerWaitingRunsTheSpareJobsFirst) {
  std::atomic<bool> release{false};
  std::vector<int> order;  // of the jobs the taker ran
  std::vector<CaptureWorkerThread::Job> jobs(4);
  CaptureWorkerThread thread;
  hold(thread, jobs[0], release);
  for (int i = 1; i < 4; ++i) jobs[i].work = [&, i] { order.push_back(i); };
  jobs[1].work = [&] {  // the last one the taker reaches
    order.push_back(1);
    release = true;
  };
  thread.post_spare(jobs[2]);
  thread.post(jobs[1]);
  thread.post_spare(jobs[3]);
  thread.take(jobs[0]);
  EXPECT_EQ(order, (std::vector<int>{3, 2, 1}));
  for (int i = 1; i < 4; ++i) thread.take(jobs[i]);
}

TEST(CaptureWorkerThread, JobsNotStartedAreDroppedWhenTheThreadEnds) {
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  std::vector<CaptureWorkerThread::Job> jobs(50);
  {
    // Lets the first job end only once the thread is being stopped (declared first, it is
    // joined last).
    std::jthread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release = true;
    });
    CaptureWorkerThread thread;
    jobs[0].work = [&] {
      ++runs;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    for (size_t i = 1; i < jobs.size(); ++i) jobs[i].work = [&] { ++runs; };
    for (auto& j : jobs) thread.post(j);
  }
  EXPECT_LE(runs.load(), 1);
}

}  // namespace
}  // namespace deja::kmod
