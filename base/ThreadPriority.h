// The calling thread runs ahead of the machine's ordinary threads while this lives
// (SCHED_FIFO at the lowest real-time priority), then goes back to the policy it had.
// Threads it starts meanwhile inherit the boost.
//
// Why: a checkpoint holds the user's whole session still, and the user waits on nothing else
// the recorder does. On a busy machine the recorder's capture would otherwise queue behind
// every runnable thread, stretching that wait several times over. The kernel keeps real-time
// threads to 95% of each second, and the capture is bounded by its freeze limit.
#pragma once

#include <pthread.h>
#include <sched.h>

namespace deja {

class BoostedThread {
 public:
  /// Best effort: without CAP_SYS_NICE (an unprivileged recorder) the thread keeps its
  /// priority, and boosted() says so.
  BoostedThread();
  ~BoostedThread();
  BoostedThread(const BoostedThread&) = delete;
  BoostedThread& operator=(const BoostedThread&) = delete;
  bool boosted() const { return boosted_; }

 private:
  int policy_ = SCHED_OTHER;
  sched_param param_{};
  bool boosted_ = false;
};

}  // namespace deja
