#include "display/AccessibleText.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "base/Error.h"
#include "display/AccessibilityBus.h"
#include "display/CpuShare.h"
#include "display/DisplayIndex.h"
#include "display/WindowExclusions.h"

namespace deja::display {
namespace {

constexpr int64_t kRetryMs = 5000;
constexpr double kCpuShare = 0.1;     // as TextIndexer: a tenth of a core at most
constexpr int kMaxObjects = 400;      // per window and pass: a huge tree is read in part
constexpr int kMaxDepth = 30;
constexpr int kWholeText = 2000;      // longer texts: only the part shown is read
constexpr size_t kMaxLines = 200;     // per object

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool meets(const std::vector<Rect>& areas, const Rect& r) {
  for (const Rect& a : areas)
    if (a.intersects(r)) return true;
  return false;
}

struct Tracked {
  int64_t id;
  TextLine line;
};

/// One pass over the applications' windows: reads the text of the windows to read.
class Pass {
 public:
  Pass(AccessibilityBus& bus, const std::vector<ReadableWindow>& windows,
       const std::vector<Rect>& changed, const std::map<int64_t, std::vector<Tracked>>& known)
      : bus_(bus), windows_(windows), changed_(changed), known_(known) {}

  /// The windows read (by row id) and the lines each shows.
  std::map<int64_t, std::vector<TextLine>> run() {
    for (const AccessibleRef& app : bus_.applications()) {
      // An application with an excluded window is not read at all (its other windows stay
      // on OCR): what it shows in one window may be what it keeps private in the other.
      const uint32_t pid = bus_.pid_of(app.bus);
      if (std::any_of(windows_.begin(), windows_.end(),
                      [&](const ReadableWindow& w) { return w.excluded && w.info.pid == pid; }))
        continue;
      for (const AccessibleRef& frame : bus_.children(app)) read_frame(frame, pid);
    }
    return read_;
  }

 private:
  // A top-level accessible is read only when it is a recorded window's: same title, its
  // middle inside the window, the same process when the window names one, and no
  // excluded window (whatever its process) that fits as well.
  void read_frame(const AccessibleRef& frame, uint32_t pid) {
    if (!bus_.showing(frame)) return;
    const std::string title = bus_.name(frame);
    // Untitled accessibles (menus and tooltips, which are no recorded windows) are not
    // told apart: never read.
    if (title.empty()) return;
    const Rect box = bus_.extents(frame);
    const int cx = box.x + box.w / 2, cy = box.y + box.h / 2;
    const ReadableWindow* match = nullptr;
    for (const ReadableWindow& w : windows_) {
      const Rect& b = w.info.box;
      if (w.info.title != title || cx < b.x || cx >= b.right() || cy < b.y || cy >= b.bottom())
        continue;
      if (w.info.pid && w.info.pid != pid && !w.excluded) continue;  // another program's
      if (!w.id) return;  // it may be an excluded window: never read
      match = &w;
    }
    if (!match || read_.count(*match->id)) return;
    // Unchanged since read: its lines stay as they are.
    if (known_.count(*match->id) && !meets(changed_, match->info.box)) return;
    if (!meets(match->visible, box)) return;
    std::vector<TextLine>& lines = read_[*match->id];
    int budget = kMaxObjects;
    walk(frame, *match, lines, 0, budget);
  }

  void walk(const AccessibleRef& a, const ReadableWindow& w, std::vector<TextLine>& lines,
            int depth, int& budget) {
    if (--budget < 0 || depth > kMaxDepth || !bus_.showing(a)) return;
    if (bus_.has_text(a)) read_text(a, w, lines);
    for (const AccessibleRef& c : bus_.children(a)) walk(c, w, lines, depth + 1, budget);
  }

  void read_text(const AccessibleRef& a, const ReadableWindow& w, std::vector<TextLine>& lines) {
    const Rect shown = bus_.extents(a).intersected(w.info.box);
    if (!meets(w.visible, shown)) return;
    const int count = bus_.character_count(a);
    if (count <= 0) return;
    int start = 0, end = count;
    if (count > kWholeText) {
      // Only what shows of a long text (a scrolled document): the characters at the
      // corners of its visible part, whole lines.
      start = std::max(0, bus_.offset_at(a, shown.x, shown.y));
      end = bus_.offset_at(a, shown.right() - 1, shown.bottom() - 1);
      end = end < 0 ? count : std::min(count, end + 1);
    }
    const std::string text = bus_.text(a, start, end);
    // One line per text line: its own box when the object holds several.
    size_t from = 0;
    const bool several = text.find('\n') != std::string::npos;
    int offset = start;
    for (size_t n = 0; from <= text.size() && n < kMaxLines; ++n) {
      size_t nl = text.find('\n', from);
      std::string line = text.substr(from, nl == std::string::npos ? std::string::npos : nl - from);
      const int chars = utf8_chars(line);
      if (line.find_first_not_of(" \t\r") != std::string::npos) {
        Rect box = several ? bus_.range_extents(a, offset, offset + chars).intersected(shown)
                           : shown;
        if (meets(w.visible, box)) lines.push_back({line, box, 100, ""});
      }
      if (nl == std::string::npos) break;
      from = nl + 1;
      offset += chars + 1;
    }
  }

  // Offsets on the bus count characters, not bytes.
  static int utf8_chars(const std::string& s) {
    int n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  AccessibilityBus& bus_;
  const std::vector<ReadableWindow>& windows_;
  const std::vector<Rect>& changed_;
  const std::map<int64_t, std::vector<Tracked>>& known_;
  std::map<int64_t, std::vector<TextLine>> read_;
};

}  // namespace

std::vector<ReadableWindow> readable_windows(const std::vector<WindowInfo>& windows,
                                             const std::vector<std::optional<int64_t>>& ids,
                                             const std::vector<bool>& excluded) {
  std::vector<ReadableWindow> out;
  for (size_t i = 0; i < windows.size(); ++i) {
    ReadableWindow w{i < ids.size() ? ids[i] : std::nullopt,
                     i < excluded.size() && excluded[i], windows[i], {windows[i].box}};
    for (size_t j = i + 1; j < windows.size(); ++j) {
      std::vector<Rect> left;
      for (const Rect& r : w.visible)
        for (const Rect& part : subtract(r, windows[j].box)) left.push_back(part);
      w.visible = std::move(left);
    }
    out.push_back(std::move(w));
  }
  return out;
}

AccessibleText::AccessibleText(std::string catalog_path, std::string session,
                               std::string session_files)
    : catalog_path_(std::move(catalog_path)),
      session_(std::move(session)),
      session_files_(std::move(session_files)) {
  worker_ = std::thread([this] { run(); });
}

AccessibleText::~AccessibleText() {
  if (worker_.joinable()) stop(0);
}

bool AccessibleText::wants_bus() const {
  std::lock_guard lock(mu_);
  return !connected_ && steady_ms() >= next_connect_ms_;
}

void AccessibleText::submit(std::string address, std::vector<ReadableWindow> windows,
                            std::vector<Rect> changed, int64_t changed_ms, int64_t shown_ms) {
  std::lock_guard lock(mu_);
  // Without a bus the capture thread looks for one at most every kRetryMs.
  if (!connected_) next_connect_ms_ = std::max(next_connect_ms_, steady_ms() + kRetryMs);
  if (pending_) {
    changed.insert(changed.end(), pending_->changed.begin(), pending_->changed.end());
    changed_ms = pending_->changed_ms;
    if (address.empty()) address = pending_->address;
  }
  pending_ = Job{std::move(address), std::move(windows), std::move(changed), changed_ms, shown_ms};
  cv_.notify_one();
}

void AccessibleText::stop(int64_t end_ms) {
  {
    std::lock_guard lock(mu_);
    end_ms_ = end_ms;
    cv_.notify_one();
  }
  worker_.join();
}

uint64_t AccessibleText::passes() const {
  std::lock_guard lock(mu_);
  return passes_;
}

double AccessibleText::cpu_seconds() const {
  std::lock_guard lock(mu_);
  return cpu_seconds_;
}

void AccessibleText::run() {
  // Named, so its CPU can be told apart from the recorder's other threads (atspi_cost.py).
  pthread_setname_np(pthread_self(), "deja-atspi");
  std::string reported;  // the last error reported: each is said once
  auto report = [&](const std::exception& e) {
    if (reported == e.what()) return;
    reported = e.what();
    std::fprintf(stderr, "deja: accessible text for session %s: %s\n", session_.c_str(), e.what());
  };
  std::optional<DisplayIndex> index;
  try {
    index.emplace(catalog_path_);
  } catch (const std::exception& e) {
    report(e);
  }
  std::optional<AccessibilityBus> bus;
  std::map<int64_t, std::vector<Tracked>> shown;  // by window row
  // Stores what a pass read: lines of the windows read that are gone close, new ones open.
  auto store = [&](int64_t window, std::vector<TextLine> now, const Job& job,
                   std::vector<int64_t>& closed) {
    std::vector<Tracked>& old = shown[window];
    std::vector<Tracked> kept;
    for (Tracked& t : old) {
      // The same text in the same window is one appearance, wherever it moved (a view
      // scrolled, a line inserted above): the text is exact, no reading tells it apart.
      auto same = std::find_if(now.begin(), now.end(),
                               [&](const TextLine& l) { return l.text == t.line.text; });
      if (same == now.end()) {
        closed.push_back(t.id);
      } else {
        now.erase(same);
        kept.push_back(std::move(t));
      }
    }
    std::vector<std::optional<int64_t>> in(now.size(), window);
    std::vector<int64_t> ids =
        index->update_text(session_, closed, job.changed_ms, now, job.shown_ms, in, "atspi");
    closed.clear();
    for (size_t i = 0; i < ids.size(); ++i) kept.push_back({ids[i], now[i]});
    old = std::move(kept);
  };
  auto cooldown_until = std::chrono::steady_clock::now();
  for (;;) {
    Job job;
    std::optional<int64_t> end_ms;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return pending_ || end_ms_; });
      cv_.wait_until(lock, cooldown_until, [&] { return end_ms_.has_value(); });
      if (pending_) {
        job = std::move(*pending_);
        pending_.reset();
      } else {
        end_ms = end_ms_;
      }
    }
    if (end_ms) {
      std::vector<int64_t> open;
      for (auto& [w, lines] : shown)
        for (const Tracked& t : lines) open.push_back(t.id);
      if (index && *end_ms > 0 && !open.empty()) {
        try {
          index->update_text(session_, open, *end_ms, {}, 0);
        } catch (const std::exception& e) {
          report(e);
        }
      }
      return;
    }
    if (!index) continue;
    const double cpu0 = thread_cpu_seconds();
    const auto wall0 = std::chrono::steady_clock::now();
    try {
      // Lines of windows that went (or were renamed: a new row) are gone.
      std::vector<int64_t> closed;
      for (auto it = shown.begin(); it != shown.end();) {
        bool present = false;
        for (const ReadableWindow& w : job.windows) present |= w.id == it->first;
        if (present) {
          ++it;
          continue;
        }
        for (const Tracked& t : it->second) closed.push_back(t.id);
        it = shown.erase(it);
      }
      if (!closed.empty()) index->update_text(session_, closed, job.changed_ms, {}, 0);
      if (!bus && !job.address.empty()) {
        bus.emplace(job.address, session_files_);
        std::lock_guard lock(mu_);
        connected_ = true;
      }
      if (bus) {
        std::map<int64_t, std::vector<TextLine>> read =
            Pass(*bus, job.windows, job.changed, shown).run();
        for (auto& [window, lines] : read) {
          std::vector<int64_t> none;
          store(window, std::move(lines), job, none);
        }
      }
    } catch (const std::exception& e) {
      report(e);
      // The bus may be gone (the application or the session ended): connect again later.
      bus.reset();
      std::lock_guard lock(mu_);
      connected_ = false;
    }
    const double cpu = thread_cpu_seconds() - cpu0;
    cooldown_until = next_pass(wall0, cpu, kCpuShare);
    std::lock_guard lock(mu_);
    cpu_seconds_ += cpu;
    ++passes_;
  }
}

}  // namespace deja::display
