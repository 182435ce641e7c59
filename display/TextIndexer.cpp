#include "display/TextIndexer.h"

#include <omp.h>
#include <pthread.h>

#include <chrono>
#include <cstdio>

#include "base/Error.h"
#include "display/CpuShare.h"
#include "display/DisplayIndex.h"
#include "display/TextRecognizer.h"
#include "display/TextTracker.h"

namespace deja::display {
namespace {

// Lines of a terminal are 13-20 px apart: a gap of one line joins changes to adjacent
// lines into one recognition (Tesseract reads a block better than single lines).
constexpr int kMergeGap = 16;

// The share of one core text recognition may take while the screen keeps changing.
constexpr double kCpuShare = 0.1;
// A read of a whole screen of text takes seconds of CPU. While the screen keeps changing
// (the user scrolls, a build prints), it is paced to kCpuShare once it has used kBurst,
// so the recorder does not take a core from the session while it is busy; once the
// screen has been still for kStill the rest is read at full speed. A pass of a few typed
// lines (0.2-0.5 s) stays within the burst.
constexpr double kBurst = 0.5;
constexpr auto kStill = std::chrono::seconds(1);
// How long one wait lasts at most before the screen's stillness is looked at again.
constexpr auto kPaceStep = std::chrono::milliseconds(200);

Rect padded(const Rect& r, int pad) {
  return {r.x - pad, r.y - pad, r.w + 2 * pad, r.h + 2 * pad};
}

}  // namespace

std::vector<Rect> merge_nearby(std::vector<Rect> rects, int gap) {
  for (bool merged = true; merged;) {
    merged = false;
    for (size_t i = 0; i < rects.size() && !merged; ++i) {
      for (size_t j = i + 1; j < rects.size(); ++j) {
        if (padded(rects[i], gap).intersects(rects[j])) {
          rects[i] = rects[i].united(rects[j]);
          rects.erase(rects.begin() + static_cast<long>(j));
          merged = true;
          break;
        }
      }
    }
  }
  return rects;
}

TextIndexer::TextIndexer(std::string catalog_path, std::string session)
    : catalog_path_(std::move(catalog_path)), session_(std::move(session)) {
  worker_ = std::thread([this] { run(); });
  pthread_getcpuclockid(worker_.native_handle(), &worker_clock_);
}

TextIndexer::~TextIndexer() {
  if (worker_.joinable()) stop(0);
}

void TextIndexer::submit(Frame screen, std::vector<Rect> changed, int64_t changed_ms,
                         int64_t shown_ms, std::vector<WindowArea> windows) {
  std::lock_guard lock(mu_);
  if (pending_) {
    // The waiting job was never read: its changes are part of this newer screen.
    changed.insert(changed.end(), pending_->changed.begin(), pending_->changed.end());
    changed_ms = pending_->changed_ms;
  }
  pending_ = Job{std::move(screen), std::move(changed), changed_ms, shown_ms, std::move(windows)};
  cv_.notify_one();
}

void TextIndexer::stop(int64_t end_ms) {
  {
    std::lock_guard lock(mu_);
    end_ms_ = end_ms;
    cv_.notify_one();
  }
  worker_.join();
}

void TextIndexer::screen_changed() {
  changed_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                    std::memory_order_relaxed);
}

void TextIndexer::pace(std::chrono::steady_clock::time_point began, double cpu0) {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    const auto now = Clock::now();
    const auto changed = Clock::time_point(Clock::duration(changed_ns_.load(std::memory_order_relaxed)));
    if (now - changed >= kStill) return;
    const auto allowed = next_pass(began, thread_cpu_seconds() - cpu0 - kBurst, kCpuShare);
    if (allowed <= now) return;
    std::unique_lock lock(mu_);
    if (end_ms_) return;  // the recording ends: finish without waiting
    cv_.wait_until(lock, std::min(allowed, now + kPaceStep), [&] { return end_ms_.has_value(); });
  }
}

bool TextIndexer::busy() const {
  std::lock_guard lock(mu_);
  return working_ || pending_.has_value();
}

double TextIndexer::cpu_seconds() const {
  std::lock_guard lock(mu_);
  if (!working_) return cpu_seconds_;
  // A paced pass runs for many seconds: what it used so far counts already.
  timespec ts{};
  clock_gettime(worker_clock_, &ts);
  return cpu_seconds_ + double(ts.tv_sec) + double(ts.tv_nsec) / 1e9 - pass_cpu0_;
}

uint64_t TextIndexer::passes() const {
  std::lock_guard lock(mu_);
  return passes_;
}

void TextIndexer::run() {
  // Errors are reported and the worker keeps going: losing the text of one screen must
  // not stop the recording of the next.
  auto report = [&](const std::exception& e) {
    std::fprintf(stderr, "deja: text recognition for session %s: %s\n", session_.c_str(), e.what());
  };
  // Tesseract parallelises with OpenMP across every core, and its idle workers spin. One
  // thread leaves the other cores to the session being recorded; text may come later.
  // Its LSTM loops ask for their own thread count (num_threads(4)), which overrides
  // omp_set_num_threads; no active level of parallelism at all does not. Measured with
  // perf, the three extra workers' spinning and wake-ups were half of recognition's CPU.
  omp_set_num_threads(1);
  omp_set_max_active_levels(0);
  std::optional<DisplayIndex> index;
  std::optional<TextRecognizer> ocr;
  TextTracker tracker;
  // The screen the last pass read, all of whose changes were read: lines unchanged since
  // are not read again (TextTracker::plan).
  std::optional<Frame> before;
  try {
    index.emplace(catalog_path_);
    ocr.emplace();
  } catch (const std::exception& e) {
    report(e);
  }
  // While the screen keeps changing, recognition could take every cycle it is given (one
  // full screen costs seconds): after a pass that used C seconds of CPU the next one waits
  // until C is kCpuShare of the time since, changes piling up meanwhile as one newer
  // screen. Text shown for less than that while a whole screen scrolls is not read.
  auto cooldown_until = std::chrono::steady_clock::now();
  for (;;) {
    Job job;
    int64_t end_ms = 0;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return pending_ || end_ms_; });
      cv_.wait_until(lock, cooldown_until, [&] { return end_ms_.has_value(); });
      if (!pending_) {
        end_ms = *end_ms_;
      } else {
        job = std::move(*pending_);
        pending_.reset();
        working_ = true;
        pass_cpu0_ = thread_cpu_seconds();
      }
    }
    if (job.changed.empty()) {
      if (index && end_ms > 0) {
        try {
          index->update_text(session_, tracker.close_all(), end_ms, {}, 0);
        } catch (const std::exception& e) {
          report(e);
        }
      }
      return;
    }
    if (!index || !ocr) {
      std::lock_guard lock(mu_);
      working_ = false;
      continue;
    }
    const double cpu0 = pass_cpu0_;  // only this thread writes it
    const auto wall0 = std::chrono::steady_clock::now();
    ocr->set_pacer([this, wall0, cpu0] { pace(wall0, cpu0); });
    try {
      for (const Rect& changed : merge_nearby(std::move(job.changed), kMergeGap)) {
        const TextTracker::Read read =
            tracker.plan(padded(changed, 4), job.screen, before ? &*before : nullptr);
        TextTracker::Update up = tracker.reconcile(
            read.area, ocr->recognize(job.screen, read.area, read.known), &job.screen);
        std::vector<std::optional<int64_t>> in;
        for (const TextLine& line : up.opened) in.push_back(window_at(job.windows, line.box));
        std::vector<int64_t> ids =
            index->update_text(session_, up.closed, job.changed_ms, up.opened, job.shown_ms, in);
        for (size_t i = 0; i < ids.size(); ++i) tracker.track(ids[i], up.opened[i], &job.screen);
      }
      before = std::move(job.screen);
    } catch (const std::exception& e) {
      report(e);
      before.reset();  // some of this screen's changes were not read
    }
    const double cpu = thread_cpu_seconds() - cpu0;
    cooldown_until = next_pass(wall0, cpu, kCpuShare);
    std::lock_guard lock(mu_);
    cpu_seconds_ += cpu;
    ++passes_;
    working_ = false;
  }
}

}  // namespace deja::display
