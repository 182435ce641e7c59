#include "base/ThreadPriority.h"

namespace deja {

BoostedThread::BoostedThread() {
  if (pthread_getschedparam(pthread_self(), &policy_, &param_) != 0) return;
  sched_param fifo{};
  fifo.sched_priority = sched_get_priority_min(SCHED_FIFO);
  boosted_ = pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo) == 0;
}

BoostedThread::~BoostedThread() {
  if (boosted_) pthread_setschedparam(pthread_self(), policy_, &param_);
}

}  // namespace deja
