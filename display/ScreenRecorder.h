// The display recorder of one session: watches the session's Xvfb framebuffer from
// outside the container, encodes what changes into segment files, indexes frame times
// and on-screen text in the catalog. This header is what the session supervisor uses.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "display/WindowExclusions.h"

namespace deja::display {

struct RecorderOptions {
  /// Xvfb's framebuffer file (DIR/Xvfb_screen0 of `xvfb_command`'s fbdir) as the recorder
  /// sees it: SessionDisplay::framebuffer_on_host for a session. It may appear after
  /// start(): the recorder waits for it.
  std::string framebuffer;
  /// When set, the folder the framebuffer is in that no symlink may lead out of (the
  /// session's files; see XwdFramebuffer).
  std::string framebuffer_beneath;
  /// The store's recordings folder; segments go to <recordings_dir>/<session>/.
  std::string recordings_dir;
  std::string session;
  std::string catalog;            // path of catalog.db
  /// The session's X server socket as the recorder sees it, for the windows' names, places
  /// and focus (docs/recording-format.md), and to hold the server still while a changed
  /// screen is copied; empty: text is stored without its window, and copies are checked
  /// by comparing again (see ChangeDetector::update).
  std::string x_socket;
  /// Windows blacked out in every frame and never read for text; needs `x_socket`, since
  /// the X server says where they are. While that is not known (not connected yet, or the
  /// windows changed after the screen was copied without holding the server) nothing is
  /// recorded or read.
  WindowExclusions exclude;
  /// The session's files on the host (its subvolume). With `x_socket` and text
  /// recognition, the text applications expose on the session's accessibility bus (whose
  /// socket is there) is indexed too, as source "atspi"; empty: OCR only.
  std::string session_files;
  double max_fps = 5;             // polls (and so frames) per second at most
  double segment_seconds = 60;    // a segment is finished and indexed after this long
  double keyframe_seconds = 2;    // longest decode run for any moment
  double settle_seconds = 1;      // stillness before changed areas are read for text
  double text_every_seconds = 5;  // ...or this long after a change, if it never settles
  bool recognize_text = true;
  int crf = 20;  // see VideoSettings::crf
  /// Below this much free space in the recordings folder no segment is started and
  /// recording pauses: the catalog and the session's own files need room too.
  uint64_t min_free_bytes = 64ull << 20;
};

/// Counters for tests, logs and the benchmark.
struct RecorderStats {
  uint64_t polls = 0;
  uint64_t frames = 0;
  uint64_t segments = 0;        // finished and indexed
  uint64_t held_copies = 0;     // changes copied with the X server held still
  uint64_t text_passes = 0;     // recognition passes done
  double text_cpu_seconds = 0;  // CPU time of those passes
  uint64_t atspi_passes = 0;     // reads of the accessibility bus done
  double atspi_cpu_seconds = 0;  // CPU time of those reads
  double mask_seconds = 0;      // time spent blacking out excluded windows
  bool text_busy = false;       // recognition queued or running
  bool paused = false;          // e.g. the disk is full; retried every few seconds
};

/// Records one session's screen on its own threads (capture+encode, text recognition).
/// Lifetime: construct, start(), and stop() (or destroy) when the session ends. stop()
/// finishes the open segment so the whole recording is indexed. A recorder killed
/// instead leaves an open segment that the next recorder started on the same catalog
/// (or recover_open_segments) repairs. Errors such as a full disk never end the
/// session: they are reported once on stderr, recording pauses and retries.
class ScreenRecorder {
 public:
  explicit ScreenRecorder(RecorderOptions options);
  ~ScreenRecorder();
  ScreenRecorder(const ScreenRecorder&) = delete;
  ScreenRecorder& operator=(const ScreenRecorder&) = delete;

  /// Recovers segments left open by dead recorders, then starts capturing. Throws only
  /// when the catalog cannot be opened.
  void start();
  /// Stops capturing, finishes the open segment and the text index. Idempotent.
  void stop();

  /// Safe to call from any thread.
  RecorderStats stats() const;

 private:
  class Capture;
  void run();

  RecorderOptions options_;
  std::unique_ptr<Capture> capture_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

/// The command line that starts a session's X server: Xvfb on display `:display_number`
/// with one screen of `geometry` ("WxHxD", e.g. "1280x800x24"; "WxH" means depth 24),
/// keeping its framebuffer in `fbdir`/Xvfb_screen0 where the recorder reads it.
std::vector<std::string> xvfb_command(const std::string& geometry, int display_number,
                                      const std::string& fbdir);

/// How a session's display is wired, for the supervisor: what deja-init starts before the
/// command, what the command is told, and where the recorder reads the screen.
struct SessionDisplay {
  std::vector<std::string> server_argv;  // deja-init --server ARGV... --
  std::string server_socket;             // deja-init --server-socket (inside the container)
  std::string display;                   // the command's DISPLAY, ":0"
  std::string fbdir_on_host;             // create it before the container starts
  std::string framebuffer_on_host;       // RecorderOptions::framebuffer
  std::string server_socket_on_host;     // RecorderOptions::x_socket
};
/// The display of the session whose subvolume is `session_files` (host path), with
/// screen `geometry` (see xvfb_command). Display :0 is free: the session has its own
/// /tmp and network namespace.
SessionDisplay session_display(const std::string& session_files, const std::string& geometry);

/// The name of the framebuffer file Xvfb creates in its fbdir for screen 0.
inline constexpr const char* kFramebufferFile = "Xvfb_screen0";

/// The fbdir to give the session's Xvfb, as seen inside the container: in the session's
/// /run, so the file Xvfb maps is part of the session's files and revives with it. From
/// outside it is <session subvolume>/run/deja/display/Xvfb_screen0.
inline constexpr const char* kFramebufferDirInSession = "/run/deja/display";

}  // namespace deja::display
