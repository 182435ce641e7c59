// What the live activity plot costs: deja-ui re-reads a recording session's frame times after
// each refresh (every 2 s), from the catalog's rows and from the segment being recorded.
//
//   activity_probe CATALOG RECORDINGS SESSION STARTED_UNIX_S RUNS
// prints: catalog_ms <median> <p95> with_open_ms <median> <p95> frames <n> open_frames <m>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "ui/Activity.h"
#include "ui/LiveActivity.h"

namespace {

// Median and p95 of `runs` timed calls of `read`, and the count of times it returned.
std::pair<double, double> timed(int runs, const std::function<size_t()>& read, size_t* count) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    *count = read();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 95 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: activity_probe CATALOG RECORDINGS SESSION STARTED_UNIX_S RUNS\n");
    return 2;
  }
  const double started = std::atof(argv[4]);
  const int runs = std::atoi(argv[5]);
  size_t rows = 0, all = 0;
  const auto catalog = timed(runs, [&] {
    return deja::ui::recorded_frame_times(argv[1], argv[3], started).size();
  }, &rows);
  // As deja-ui keeps it: one for the window, its readers of the open segment kept.
  deja::ui::LiveFrameTimes live(argv[1], argv[2]);
  const auto with_open = timed(runs, [&] { return live.read(argv[3], started).size(); }, &all);
  std::printf("catalog_ms %.1f %.1f with_open_ms %.1f %.1f frames %zu open_frames %zu\n",
              catalog.first, catalog.second, with_open.first, with_open.second, all, all - rows);
  return 0;
}
