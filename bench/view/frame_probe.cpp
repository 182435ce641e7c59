// Scrubbing in process: the frame of a session at random moments from its start to one
// second ago, the segment still being recorded included, as the browser would ask for it
// (catalog lookup, demux/seek, decode; no PNG). One ScreenHistory serves every request, as
// in a scrubber; with `fresh`, each request gets a new one (as each `deja frame` process
// does, and as every request did before segment readers were kept open).
//
//   frame_probe CATALOG RECORDINGS_DIR SESSION START_UNIX_MS RUNS [fresh]
// prints: frame_ms[_fresh] <median> <p95> (n=RUNS, open=<how many came from the open segment>)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "display/DisplayIndex.h"
#include "display/ScreenHistory.h"

int main(int argc, char** argv) {
  if (argc != 6 && !(argc == 7 && std::string(argv[6]) == "fresh")) {
    std::fprintf(stderr, "usage: frame_probe CATALOG RECORDINGS SESSION START_MS RUNS [fresh]\n");
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  deja::display::DisplayIndex index(argv[1]);
  const bool fresh = argc == 7;
  auto history = std::make_unique<deja::display::ScreenHistory>(index, argv[2]);
  const int64_t start = std::atoll(argv[4]);
  const int runs = std::atoi(argv[5]);
  std::mt19937_64 rng(42);
  std::vector<double> ms;
  int open = 0, missing = 0;
  for (int i = 0; i < runs; ++i) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int64_t t = start + int64_t(rng() % uint64_t(std::max<int64_t>(1, now - 1000 - start)));
    auto seg = index.open_segment_at(argv[3], t);
    auto done = index.frame_at(argv[3], t);
    if (seg && (!done || seg->start_ms > done->segment.start_ms)) ++open;
    auto t0 = Clock::now();
    if (fresh) history = std::make_unique<deja::display::ScreenHistory>(index, argv[2]);
    deja::display::ScreenAt s = history->at(argv[3], t);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!s.frame) ++missing;
  }
  std::sort(ms.begin(), ms.end());
  std::printf("frame_ms%s %.1f %.1f (n=%d, from the open segment %d, no frame %d)\n",
              fresh ? "_fresh" : "", ms[ms.size() / 2], ms[ms.size() * 95 / 100], runs, open, missing);
  return 0;
}
