// grab_bench: what holding the X server while copying a changed screen buys and costs.
// Records tests/display/flash_window.py (a 1280x800 GTK window turning black and white as
// fast as GTK draws, one X request a flash) on a real Xvfb, in turn with the recorder's X
// connection (it holds the server while copying) and without it (it compares the screen
// again after copying instead). Per run it prints the frames that mix both colours, and
// the round-trip time of another X client asking the server something every millisecond
// meanwhile: what the session's clients pay for the hold.
//
// With --stall MS (30 unless given; 0: none) Xvfb is stopped for MS at random moments, as
// a server descheduled in the middle of a request on a loaded machine; the probe's round
// trips then include those stops in both modes.
//
//   grab_bench [--runs N] [--seconds S] [--fps F] [--stall MS]
#include <xcb/xcb.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../../tests/display/TestSupport.h"
#include "base/Files.h"
#include "display/DisplayIndex.h"
#include "display/ScreenRecorder.h"

namespace deja::display {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int runs = 3;
  double seconds = 10;
  double fps = 5;  // the recorder's default
  int stall_ms = 30;  // Xvfb stopped this long at random moments (0: never)
};

struct RunResult {
  test::FlashFrames flash;
  uint64_t held = 0;
  std::vector<double> rtt_ms;  // the probe client's round trips
};

// Another client of the server: one GetInputFocus round trip a millisecond until `stop`.
std::vector<double> probe(const std::string& display, const std::atomic<bool>& stop) {
  std::vector<double> out;
  xcb_connection_t* c = xcb_connect(display.c_str(), nullptr);
  if (xcb_connection_has_error(c)) {
    xcb_disconnect(c);
    throw std::runtime_error("probe: cannot connect to " + display);
  }
  while (!stop) {
    const auto t = Clock::now();
    std::free(xcb_get_input_focus_reply(c, xcb_get_input_focus(c), nullptr));
    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  xcb_disconnect(c);
  return out;
}

RunResult run(const Options& opt, bool hold) {
  test::TempDir dir;
  const std::string fbdir = dir.path() + "/fb", catalog = dir.path() + "/catalog.db";
  make_dirs(fbdir);
  test::add_session(catalog, "bench");
  test::Xvfb x(fbdir, "1280x800x24");
  RecorderOptions o;
  o.framebuffer = x.framebuffer();
  o.recordings_dir = dir.path() + "/recordings";
  o.session = "bench";
  o.catalog = catalog;
  o.recognize_text = false;
  o.max_fps = opt.fps;
  if (hold) o.x_socket = x.socket();
  test::Child flasher({"/usr/bin/python3", DEJA_TEST_DIR "/flash_window.py"},
                      {"DISPLAY=" + x.display()});
  std::this_thread::sleep_for(std::chrono::seconds(2));  // the window is up and flashing
  ScreenRecorder rec(o);
  std::atomic<bool> stop{false};
  RunResult r;
  std::thread prober([&] { r.rtt_ms = probe(x.display(), stop); });
  rec.start();
  {
    std::optional<test::Stalls> stalls;
    if (opt.stall_ms > 0) stalls.emplace(x.pid(), std::chrono::milliseconds(opt.stall_ms));
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
  }
  rec.stop();
  stop = true;
  prober.join();
  r.held = rec.stats().held_copies;
  DisplayIndex index(catalog);
  // One segment (shorter than a segment's minute): the one holding the last frame.
  if (auto last = index.frame_at("bench", int64_t{1} << 62))
    r.flash = test::count_flash_frames(o.recordings_dir + "/" + last->segment.file);
  return r;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

}  // namespace
}  // namespace deja::display

int main(int argc, char** argv) {
  using namespace deja::display;
  Options opt;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? argv[++i] : ""; };
    if (!std::strcmp(argv[i], "--runs")) {
      opt.runs = std::atoi(value());
    } else if (!std::strcmp(argv[i], "--seconds")) {
      opt.seconds = std::atof(value());
    } else if (!std::strcmp(argv[i], "--fps")) {
      opt.fps = std::atof(value());
    } else if (!std::strcmp(argv[i], "--stall")) {
      opt.stall_ms = std::atoi(value());
    } else {
      std::fprintf(stderr, "usage: %s [--runs N] [--seconds S] [--fps F] [--stall MS]\n", argv[0]);
      return 2;
    }
  }
  try {
    std::printf("mode      frames  mixed  held  probe round trip ms: p50   p99   max\n");
    for (int i = 0; i < opt.runs; ++i) {
      for (bool hold : {true, false}) {
        RunResult r = run(opt, hold);
        std::printf("%-8s  %6d  %5d  %4llu  %26.2f %5.2f %5.1f\n", hold ? "held" : "compare",
                    r.flash.frames, r.flash.mixed, static_cast<unsigned long long>(r.held),
                    quantile(r.rtt_ms, 0.5), quantile(r.rtt_ms, 0.99), quantile(r.rtt_ms, 1));
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grab_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
