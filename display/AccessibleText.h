// Text that applications expose on the accessibility bus (GTK and Qt do), indexed beside
// what OCR reads, with source "atspi": the exact text, not a reading of pixels. Reads run
// on their own thread, only for windows whose part of the screen changed, and take at most
// a tenth of a core while the screen keeps changing (docs/recording-format.md).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "display/Rect.h"
#include "display/WindowTracker.h"

namespace deja::display {

/// A top-level window as the reader sees it: excluded windows come too (with no row), so
/// that an application window that could be one of them is never read.
struct ReadableWindow {
  std::optional<int64_t> id;  // its display_windows row; none: not read (excluded, or no row)
  bool excluded = false;      // matches --exclude-app/--exclude-title
  WindowInfo info;
  std::vector<Rect> visible;  // its parts no window above covers
};

/// The windows of `windows` (bottom first) with what of each shows.
/// `ids[i]`: windows[i]'s row; `excluded[i]`: whether it is excluded.
std::vector<ReadableWindow> readable_windows(const std::vector<WindowInfo>& windows,
                                             const std::vector<std::optional<int64_t>>& ids,
                                             const std::vector<bool>& excluded = {});

class AccessibleText {
 public:
  /// `session_files`: the session's subvolume on the host, where its bus socket is.
  AccessibleText(std::string catalog_path, std::string session, std::string session_files);
  /// Joins the worker if stop() was not called.
  ~AccessibleText();
  AccessibleText(const AccessibleText&) = delete;
  AccessibleText& operator=(const AccessibleText&) = delete;

  /// Whether the worker has no bus and would try `address` now (at most every 5 s).
  bool wants_bus() const;
  /// Queues a read of the windows whose visible part meets `changed`, on the screen shown
  /// since `shown_ms` (what was there before went at `changed_ms`). `address`: the bus's
  /// (AT_SPI_BUS), used when not connected; empty: none known. A newer submission merges
  /// with one still waiting.
  void submit(std::string address, std::vector<ReadableWindow> windows,
              std::vector<Rect> changed, int64_t changed_ms, int64_t shown_ms);
  /// Finishes queued work, marks every line still shown as gone at `end_ms`, joins.
  void stop(int64_t end_ms);

  uint64_t passes() const;
  double cpu_seconds() const;

 private:
  struct Job {
    std::string address;
    std::vector<ReadableWindow> windows;
    std::vector<Rect> changed;
    int64_t changed_ms = 0, shown_ms = 0;
  };
  void run();

  std::string catalog_path_, session_, session_files_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Job> pending_;
  std::optional<int64_t> end_ms_;
  bool connected_ = false;
  int64_t next_connect_ms_ = 0;
  uint64_t passes_ = 0;
  double cpu_seconds_ = 0;
  std::thread worker_;
};

}  // namespace deja::display
