#include "display/ScreenRecorder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <regex>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "display/AccessibleText.h"
#include "display/ChangeDetector.h"
#include "display/DisplayIndex.h"
#include "display/SegmentRecovery.h"
#include "display/TextIndexer.h"
#include "display/VideoWriter.h"
#include "display/WindowHistory.h"
#include "display/XwdFramebuffer.h"

namespace deja::display {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr auto kRetryAfterError = std::chrono::seconds(5);
constexpr auto kXvfbStartup = std::chrono::seconds(10);
constexpr size_t kMaxUnmasked = 256;

int64_t millis(double seconds) {
  return static_cast<int64_t>(seconds * 1000.0);
}

}  // namespace

std::vector<std::string> xvfb_command(const std::string& geometry, int display_number,
                                      const std::string& fbdir) {
  static const std::regex kGeometry(R"((\d+)x(\d+)(x(\d+))?)");
  std::smatch m;
  if (!std::regex_match(geometry, m, kGeometry))
    throw Error("display geometry '" + geometry + "' is not WxH or WxHxD (e.g. 1280x800x24)");
  std::string depth = m[4].matched ? m[4].str() : "24";
  if (depth != "24" && depth != "32")
    throw Error("display depth " + depth + " is not supported (the recorder reads 24 or 32)");
  return {"Xvfb", ":" + std::to_string(display_number), "-screen", "0",
          m[1].str() + "x" + m[2].str() + "x" + depth, "-fbdir", fbdir,
          // The session needs no network listener; local clients use the unix socket.
          "-nolisten", "tcp",
          // Clients inside the session connect without an authority file.
          "-ac",
          // Without it the server resets when its last client leaves, dropping the root
          // window's properties: at-spi-bus-launcher sets AT_SPI_BUS (where the recorder
          // finds the accessibility bus) over a connection it closes at once, so a bus
          // started before any application connects was lost (a Qt-only session).
          "-noreset"};
}

SessionDisplay session_display(const std::string& session_files, const std::string& geometry) {
  SessionDisplay d;
  d.server_argv = xvfb_command(geometry, 0, kFramebufferDirInSession);
  d.server_socket = "/tmp/.X11-unix/X0";
  d.display = ":0";
  d.fbdir_on_host = session_files + kFramebufferDirInSession;
  d.framebuffer_on_host = d.fbdir_on_host + "/" + kFramebufferFile;
  // The session's /tmp is the subvolume's tmp/.
  d.server_socket_on_host = session_files + d.server_socket;
  return d;
}

/// What the recorder thread works on. Times are Unix milliseconds, derived from a
/// steady clock anchored once, so a wall-clock step never makes frames go backwards.
class ScreenRecorder::Capture {
 public:
  explicit Capture(const RecorderOptions& o)
      : o_(o),
        index_(o.catalog),
        windows_(index_, o.session, o.x_socket, o.exclude),
        wall0_ms_(now_wall_ms()),
        steady0_(SteadyClock::now()) {}

  int64_t now_ms() const {
    return wall0_ms_ +
           std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - steady0_)
               .count();
  }

  /// One poll: returns when to poll next.
  SteadyClock::time_point tick() {
    const auto period = std::chrono::duration_cast<SteadyClock::duration>(
        std::chrono::duration<double>(1.0 / o_.max_fps));
    const auto next = SteadyClock::now() + period;
    if (paused_until_ && SteadyClock::now() < *paused_until_) return next;
    try {
      if (!fb_ && !attach()) return next;
      poll();
      if (text_) {
        stats_text_passes = text_->passes();
        stats_text_cpu = text_->cpu_seconds();
        stats_text_busy = text_->busy() || !dirty_.empty();
      }
      if (accessible_) {
        stats_atspi_passes = accessible_->passes();
        stats_atspi_cpu = accessible_->cpu_seconds();
      }
      if (paused_until_) {
        paused_until_.reset();
        stats_paused = false;
        std::fprintf(stderr, "deja: display recording of session %s resumed\n", o_.session.c_str());
        // The error that paused it (a full disk) may also have kept the abandoned segment
        // from being recovered then.
        recover_abandoned();
      }
    } catch (const std::exception& e) {
      pause(e.what());
    }
    return next;
  }

  /// Ends the recording: the open segment and the text index are completed.
  void finish() {
    // A copy the screen changed under was not recorded: one more look completes it, so
    // the text read from it has a frame at its time.
    if (held_ && fb_ && !paused_until_) {
      try {
        poll();
      } catch (const std::exception&) {
        // Then that copy stays unrecorded and unread, as below.
      }
    }
    int64_t end = now_ms();
    try {
      close_segment();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deja: display recording of session %s: %s\n", o_.session.c_str(),
                   e.what());
      abandon_segment();
    }
    if (text_) {
      // Text of a copy still not one moment is not read: no frame shows that screen.
      if (!dirty_.empty() && fb_ && !held_)
        text_->submit(recorded(), dirty_, first_change_ms_, last_change_ms_, windows_.areas());
      text_->stop(end);
      stats_text_passes = text_->passes();
    }
    if (accessible_) {
      accessible_->stop(end);
      stats_atspi_passes = accessible_->passes();
    }
    windows_.finish(end);
  }

  DisplayIndex& index() { return index_; }

  std::atomic<uint64_t> stats_polls{0}, stats_frames{0}, stats_segments{0}, stats_text_passes{0},
      stats_held_copies{0}, stats_atspi_passes{0};
  std::atomic<bool> stats_paused{false}, stats_text_busy{false};
  std::atomic<double> stats_text_cpu{0}, stats_mask_seconds{0}, stats_atspi_cpu{0};

 private:
  static int64_t now_wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // Maps the framebuffer once Xvfb has created it. Xvfb sizes the file and writes the
  // header just after creating it, so an unreadable file is only an error once Xvfb
  // has had time to start.
  bool attach() {
    if (!path_exists(o_.framebuffer)) return false;
    try {
      fb_.emplace(o_.framebuffer, o_.framebuffer_beneath);
    } catch (const Error&) {
      if (SteadyClock::now() - steady0_ < kXvfbStartup) return false;
      throw;
    }
    detector_.emplace(fb_->width(), fb_->height());
    if (!o_.exclude.empty()) masked_.emplace(fb_->width(), fb_->height());
    if (o_.recognize_text) text_.emplace(o_.catalog, o_.session);
    if (o_.recognize_text && !o_.x_socket.empty() && !o_.session_files.empty())
      accessible_.emplace(o_.catalog, o_.session, o_.session_files);
    return true;
  }

  void poll() {
    ++stats_polls;
    // Where the excluded windows are in this copy: read while the server is held for it.
    std::optional<std::vector<Rect>> hidden;
    // A changed screen is copied again with the X server held still, so the copy is one
    // moment of it; a still screen costs the server nothing.
    std::vector<Rect> changed = detector_->update(fb_->pixels(), fb_->stride(), [&] {
      std::unique_ptr<ServerGrab> grab = windows_.hold_server(now_ms());
      if (grab && masked_) hidden = windows_.read_hidden(now_ms());
      return std::shared_ptr<void>(std::move(grab));
    });
    stats_held_copies += detector_->held();
    if (fb_->truncated()) {
      fb_.reset();  // mapped again when the file is whole
      throw Error(o_.framebuffer + " was truncated under the recorder");
    }
    const int64_t now = now_ms();
    const bool moved = windows_.poll(now, !changed.empty());
    if (masked_ && !mask(changed, std::move(hidden), moved)) {
      // Not known what the excluded windows covered in this copy: nothing of it is
      // recorded or read until a later poll knows.
      held_ = true;
      return;
    }
    if (writer_ && now - segment_start_ms_ >= millis(o_.segment_seconds)) close_segment();
    unwritten_.insert(unwritten_.end(), changed.begin(), changed.end());
    if (!changed.empty() || resume_frame_ || held_) {
      // A copy the screen kept changing under is not one moment: it is neither recorded
      // nor read, and the next poll, which completes it, is.
      held_ = !detector_->consistent();
      if (!held_) {
        write_frame(now);
        resume_frame_ = false;
      }
      if (dirty_.empty()) first_change_ms_ = now;
      dirty_.insert(dirty_.end(), changed.begin(), changed.end());
      last_change_ms_ = now;
      if (text_) text_->screen_changed();
    }
    const bool settled = now - last_change_ms_ >= millis(o_.settle_seconds);
    // A screen that never stops changing (a clock, a scrolling log) is read anyway, so
    // its text is not held back until it stops.
    const bool overdue = now - first_change_ms_ >= millis(o_.text_every_seconds);
    if (!dirty_.empty() && !held_ && (settled || overdue)) {
      // The same moments as OCR, for the windows whose part of the screen changed.
      if (accessible_)
        accessible_->submit(accessible_->wants_bus() ? windows_.accessibility_bus(now) : "",
                            windows_.readable(), dirty_, first_change_ms_, last_change_ms_);
      if (text_)
        text_->submit(recorded(), std::move(dirty_), first_change_ms_, last_change_ms_,
                      windows_.areas());
      dirty_.clear();
    }
  }

  // Brings the copy's changes into the recorded screen, excluded windows black. Their
  // places are those read while the server was held for the copy, or else those read
  // before it, when nothing moved since. Returns false when neither is known; the changes
  // then wait for a poll that knows. `changed` becomes the recorded screen's changes.
  bool mask(std::vector<Rect>& changed, std::optional<std::vector<Rect>> hidden, bool moved) {
    if (!hidden && !moved) hidden = windows_.hidden();
    unmasked_.insert(unmasked_.end(), changed.begin(), changed.end());
    // While the windows stay unknown (the X server not answering) the screen is owed
    // whole rather than as an ever longer list.
    if (unmasked_.size() > kMaxUnmasked) unmasked_ = {Rect{0, 0, fb_->width(), fb_->height()}};
    if (!hidden) return false;
    const auto t0 = SteadyClock::now();
    changed = masked_->update(detector_->frame(), std::move(unmasked_), *hidden);
    unmasked_.clear();
    stats_mask_seconds =
        stats_mask_seconds + std::chrono::duration<double>(SteadyClock::now() - t0).count();
    return true;
  }

  // What is recorded and read: the screen, or with exclusions the screen masked.
  const Frame& recorded() const { return masked_ ? masked_->frame() : detector_->frame(); }

  void write_frame(int64_t now) {
    if (!writer_) open_segment(now);
    int64_t pts = now - segment_start_ms_;
    bool key = writer_->frames().empty() || pts - last_key_pts_ >= millis(o_.keyframe_seconds);
    // A new segment's writer converts its first frame whole.
    writer_->write(recorded(), pts, key, &unwritten_);
    unwritten_.clear();
    if (key) last_key_pts_ = pts;
    ++stats_frames;
  }

  void open_segment(int64_t now) {
    const std::string dir = o_.recordings_dir + "/" + o_.session;
    make_dirs(dir);
    struct statvfs vfs {};
    if (::statvfs(dir.c_str(), &vfs) == 0 &&
        uint64_t(vfs.f_bavail) * vfs.f_frsize < o_.min_free_bytes)
      throw_errno("start a segment in", dir, ENOSPC);
    const std::string file = o_.session + "/" + std::to_string(now) + ".mkv";
    const std::string path = o_.recordings_dir + "/" + file;
    writer_.emplace(path, fb_->width(), fb_->height(), VideoSettings{o_.crf, true});
    // The lock tells recover_open_segments that this file's writer is alive.
    lock_ = ScopedFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!lock_ || ::flock(lock_.get(), LOCK_EX) != 0) throw_errno("lock", path);
    segment_id_ = index_.open_segment(o_.session, file, now, fb_->width() & ~1, fb_->height() & ~1);
    segment_start_ms_ = now;
    last_key_pts_ = 0;
  }

  void close_segment() {
    if (!writer_) return;
    writer_->finish();
    struct stat st {};
    if (::stat(writer_->path().c_str(), &st) != 0) throw_errno("stat", writer_->path());
    index_.finish_segment(*segment_id_, writer_->frames(), st.st_size);
    writer_.reset();
    segment_id_.reset();
    lock_.reset();
    ++stats_segments;
  }

  // After a write error: the file on disk is what a crash would have left (every frame
  // was flushed), so it is recovered the same way, or dropped if nothing survives.
  void abandon_segment() {
    writer_.reset();
    lock_.reset();
    if (!segment_id_) return;
    segment_id_.reset();
    recover_abandoned();
  }

  void recover_abandoned() {
    try {
      recover_open_segments(index_, o_.recordings_dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "deja: recovering the last display segment of session %s: %s\n",
                   o_.session.c_str(), e.what());
    }
  }

  void pause(const std::string& why) {
    if (!paused_until_)
      std::fprintf(stderr,
                   "deja: display recording of session %s paused: %s; the session keeps "
                   "running and recording resumes when this is fixed\n",
                   o_.session.c_str(), why.c_str());
    abandon_segment();
    paused_until_ = SteadyClock::now() + kRetryAfterError;
    // The screen as it is when recording resumes must be recorded even if still by then.
    resume_frame_ = true;
    stats_paused = true;
  }

  RecorderOptions o_;
  DisplayIndex index_;
  WindowHistory windows_;
  const int64_t wall0_ms_;
  const SteadyClock::time_point steady0_;
  std::optional<XwdFramebuffer> fb_;
  std::optional<ChangeDetector> detector_;
  std::optional<MaskedScreen> masked_;  // with exclusions: what is recorded
  std::vector<Rect> unmasked_;          // changes not brought into masked_ yet
  std::optional<TextIndexer> text_;
  std::optional<AccessibleText> accessible_;
  std::optional<VideoWriter> writer_;
  ScopedFd lock_;
  std::optional<int64_t> segment_id_;
  int64_t segment_start_ms_ = 0;
  int64_t last_key_pts_ = 0;
  std::vector<Rect> dirty_;      // changed since text was last read
  std::vector<Rect> unwritten_;  // changed since the last frame written
  int64_t first_change_ms_ = 0, last_change_ms_ = 0;
  bool resume_frame_ = false;
  bool held_ = false;  // the last copy was not one moment of the screen: not recorded yet
  std::optional<SteadyClock::time_point> paused_until_;
};

ScreenRecorder::ScreenRecorder(RecorderOptions options) : options_(std::move(options)) {
  if (!(options_.max_fps > 0)) throw Error("display frame rate must be positive");
  if (!options_.exclude.empty() && options_.x_socket.empty())
    throw Error("excluded windows need the session's X server socket, which says where they are");
}

ScreenRecorder::~ScreenRecorder() {
  stop();
}

void ScreenRecorder::start() {
  DEJA_CHECK(!thread_.joinable());
  capture_ = std::make_unique<Capture>(options_);
  try {
    recover_open_segments(capture_->index(), options_.recordings_dir);
  } catch (const std::exception& e) {
    // Another session's damaged leftovers must not keep this one from being recorded.
    std::fprintf(stderr, "deja: recovering display segments left by a dead recorder: %s\n",
                 e.what());
  }
  thread_ = std::thread([this] { run(); });
}

void ScreenRecorder::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void ScreenRecorder::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto next = capture_->tick();
    lock.lock();
    cv_.wait_until(lock, next, [&] { return stopping_; });
  }
  lock.unlock();
  capture_->finish();
}

RecorderStats ScreenRecorder::stats() const {
  RecorderStats s;
  if (!capture_) return s;
  s.polls = capture_->stats_polls;
  s.frames = capture_->stats_frames;
  s.segments = capture_->stats_segments;
  s.held_copies = capture_->stats_held_copies;
  s.text_passes = capture_->stats_text_passes;
  s.text_cpu_seconds = capture_->stats_text_cpu;
  s.mask_seconds = capture_->stats_mask_seconds;
  s.paused = capture_->stats_paused;
  s.text_busy = capture_->stats_text_busy;
  s.atspi_passes = capture_->stats_atspi_passes;
  s.atspi_cpu_seconds = capture_->stats_atspi_cpu;
  return s;
}

}  // namespace deja::display
