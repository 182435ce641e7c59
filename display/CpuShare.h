// Background work of the recorder (text recognition, accessibility reads) paced to a share
// of one core: after a pass that used C seconds of CPU the next waits until C is that share
// of the time since the pass began.
#pragma once

#include <time.h>

#include <chrono>

namespace deja::display {

/// CPU time of the calling thread, in seconds.
inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

/// When the next pass may start, after one that began at `began` and used `cpu` seconds.
inline std::chrono::steady_clock::time_point next_pass(std::chrono::steady_clock::time_point began,
                                                       double cpu, double share) {
  return began + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>(cpu / share));
}

}  // namespace deja::display
