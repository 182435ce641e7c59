// Helpers for display tests: child processes that are always reaped, a private Xvfb with
// its framebuffer file, a scratch folder, and a catalog with a session row.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "display/DisplayIndex.h"

namespace deja::display {
class ScreenRecorder;
}

namespace deja::display::test {

/// A started program; killed (SIGKILL) and reaped when this object goes away, so a failing
/// test leaves nothing running.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv,
                 const std::vector<std::string>& env_extra = {});
  Child(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  /// Sends `sig` and waits for the program to end; returns its wait status.
  int kill_and_wait(int sig);
  /// Waits for the program to end on its own; returns its wait status.
  int wait();
  /// Whether the program has ended (it is then reaped).
  bool exited();

 private:
  pid_t pid_ = -1;
};

/// A folder under /tmp removed (recursively) at the end.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// An Xvfb on a free display number whose framebuffer file is ready.
class Xvfb {
 public:
  explicit Xvfb(const std::string& fbdir, const std::string& geometry = "640x400x24");
  std::string display() const { return ":" + std::to_string(number_); }
  const std::string& framebuffer() const { return framebuffer_; }
  /// Its unix socket, for RecorderOptions::x_socket.
  std::string socket() const { return "/tmp/.X11-unix/X" + std::to_string(number_); }
  pid_t pid() const { return server_.pid(); }

 private:
  int number_ = 0;
  std::string framebuffer_;
  Child server_;
};

/// The frames of a recording of tests/display/flash_window.py (a window over the whole
/// screen turning black and white, one X request a flash): how many, how many showed it
/// black, and how many mix both colours (tiles copied at different moments).
struct FlashFrames {
  int frames = 0, dark = 0, mixed = 0;
};
FlashFrames count_flash_frames(const std::string& segment_path);

/// Stops the process `pid` (SIGSTOP) for `stop` at random moments, `stop` to 3x `stop`
/// apart, until destroyed, and then lets it go on: an X server descheduled wherever it is,
/// in the middle of a request or not, as on a machine with more work than cores.
class Stalls {
 public:
  Stalls(pid_t pid, std::chrono::milliseconds stop);
  ~Stalls();
  Stalls(const Stalls&) = delete;
  Stalls& operator=(const Stalls&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

/// Creates a catalog at `path` with a session `id` started now, as `deja record` would.
void add_session(const std::string& catalog, const std::string& id);

/// Polls `done` every 100 ms until it returns true or `timeout` passes.
template <typename F>
bool wait_for(F done, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    struct timespec ts {
      0, 100 * 1000 * 1000
    };
    nanosleep(&ts, nullptr);
  }
}

/// Waits until the recorder's text recognition has had nothing to do for `quiet`.
void wait_text_idle(ScreenRecorder& rec, std::chrono::milliseconds quiet);

/// Every line in the text index of `catalog`, in brackets, for failure messages.
std::string indexed_text(const std::string& catalog);

/// Whether `text` holds `word` (lower case) once spaces and case are ignored: Tesseract may
/// split a word of a monospace font in two ("yel lowmeadow") or read a line's first letter
/// as a capital; the index finds it anyway (TextLine::joined, FTS5 folds case).
bool reads_as(const std::string& text, const std::string& word);

/// Random ordinary words (lower-case, from /usr/share/dict/words) that together hold every
/// letter of the alphabet, at most 70 characters in all: a test that finds them all has
/// read every letter.
std::vector<std::string> alphabet_words();

/// Tesseract misreads about one word in a thousand of terminal text (recall_bench, and the
/// letter test in xvfb_test.cpp, which test recall). A test of what Deja does with the text
/// it read lets this many words of its draw go unread, so that it fails on its own subject.
constexpr size_t kUnreadWordsAllowed = 1;

/// A word and the first hit whose text reads as it.
struct FoundWord {
  std::string word;
  TextHit hit;
};

/// The words of `words` that `index` finds in `session` with a hit whose text reads as the
/// word, in the order of `words`; waits up to `timeout` for all of them.
std::vector<FoundWord> wait_indexed(DisplayIndex& index, const std::string& session,
                                    const std::vector<std::string>& words,
                                    std::chrono::milliseconds timeout);

/// The words separated by single spaces.
std::string spaced(const std::vector<std::string>& words);

}  // namespace deja::display::test
