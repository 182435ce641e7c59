// Recognises the text of settled screen changes on its own thread and keeps the catalog's
// text index up to date. Recognition takes from tens of milliseconds to seconds, so it
// must never hold up capture.
#pragma once

#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "display/Frame.h"
#include "display/Rect.h"
#include "display/WindowHistory.h"

namespace deja::display {

class TextIndexer {
 public:
  TextIndexer(std::string catalog_path, std::string session);
  /// Joins the worker if stop() was not called; lines then stay open in the index.
  ~TextIndexer();
  TextIndexer(const TextIndexer&) = delete;
  TextIndexer& operator=(const TextIndexer&) = delete;

  /// Queues recognition of `changed` areas of `screen`, which has shown what it shows
  /// since `shown_ms`; what was there before disappeared at `changed_ms` at the latest.
  /// `windows` are the windows on that screen, bottom first: each line read is stored with
  /// the one it is in. When the worker is busy, a newer submission merges with the one
  /// still waiting.
  void submit(Frame screen, std::vector<Rect> changed, int64_t changed_ms, int64_t shown_ms,
              std::vector<WindowArea> windows = {});
  /// The screen changed just now (called by the capture thread at each change): while it
  /// keeps changing, a long read is paced (see the .cpp).
  void screen_changed();
  /// Finishes queued work, marks every line still on screen as gone at `end_ms` and joins
  /// the worker.
  void stop(int64_t end_ms);

  /// Recognition passes finished so far (for tests and the benchmark).
  uint64_t passes() const;
  /// CPU time the recognition passes took so far, the one running included, in seconds
  /// (for the benchmark).
  double cpu_seconds() const;
  /// Whether work is queued or being done.
  bool busy() const;

 private:
  struct Job {
    Frame screen;
    std::vector<Rect> changed;
    int64_t changed_ms = 0;
    int64_t shown_ms = 0;
    std::vector<WindowArea> windows;
  };
  void run();
  // Waits, inside a pass that began at `began` with `cpu0` seconds of thread CPU, while
  // the pass is over its share and the screen keeps changing.
  void pace(std::chrono::steady_clock::time_point began, double cpu0);

  std::string catalog_path_, session_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Job> pending_;
  std::optional<int64_t> end_ms_;
  uint64_t passes_ = 0;
  double cpu_seconds_ = 0;
  bool working_ = false;
  double pass_cpu0_ = 0;   // the worker's CPU time when the running pass began
  clockid_t worker_clock_{};  // the worker's CPU-time clock
  std::atomic<int64_t> changed_ns_{0};  // steady clock of the last screen change
  std::thread worker_;
};

/// Merges rectangles that overlap or lie within `gap` pixels of each other, so nearby
/// changes are read together and far-apart ones separately.
std::vector<Rect> merge_nearby(std::vector<Rect> rects, int gap);

}  // namespace deja::display
