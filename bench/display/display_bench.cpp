// display_bench: what display recording costs. Records a real xterm on a real Xvfb
// (1280x800) through a scripted workload (typing, scrolling output, then an idle
// stretch) and prints recorder CPU when busy and idle, bytes per hour of video and of
// index, and frame lookup+decode latency at random times. Search latency is search_bench's.
//
// With --exclude, a second xterm (the title "deja-bench-secret", running top, right of the
// first and not covered by it) is excluded from the
// recording and the time spent blacking it out is printed per frame.
//
//   display_bench [--idle SEC] [--frames N] [--no-text] [--exclude]
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../tests/display/TestSupport.h"
#include "base/Files.h"
#include "db/Database.h"
#include "display/DisplayIndex.h"
#include "display/PngFile.h"
#include "display/ScreenRecorder.h"
#include "display/VideoReader.h"

namespace deja::display {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Percentiles {
  double p50, p95, max;
};
Percentiles percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, size_t(q * double(v.size())))]; };
  return {at(0.5), at(0.95), v.back()};
}

int64_t file_bytes(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

// The catalog's size with its WAL folded in.
int64_t catalog_bytes(const std::string& path) {
  db::Database db(path);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return file_bytes(path);
}

struct Options {
  double idle = 60;
  int frames = 50;
  bool text = true;  // --no-text: capture and encoding alone, to split the CPU figures
  bool exclude = false;
};

void record_workload(const Options& opt) {
  test::TempDir dir;
  const std::string fbdir = dir.path() + "/fb", rec_dir = dir.path() + "/recordings",
                    catalog = dir.path() + "/catalog.db";
  make_dirs(fbdir);
  test::add_session(catalog, "bench");
  test::Xvfb x(fbdir, "1280x800x24");
  RecorderOptions o;
  o.framebuffer = x.framebuffer();
  o.recordings_dir = rec_dir;
  o.session = "bench";
  o.catalog = catalog;
  o.recognize_text = opt.text;
  o.x_socket = x.socket();  // as `deja record` gives it: windows, and the hold while copying
  if (opt.exclude) o.exclude.titles = {"deja-bench-secret"};
  ScreenRecorder rec(o);
  rec.start();
  // Loading Tesseract and the first full-screen frame are start-up costs, not busy ones.
  std::this_thread::sleep_for(2s);

  const std::string typed = dir.path() + "/typed", scrolled = dir.path() + "/scrolled";
  const std::string script =
      "sleep 1; for i in $(seq 1 80); do printf 'word%s ' $i; sleep 0.15; done; echo; touch " +
      typed +
      "; for i in $(seq 1 60); do ls -l /usr/bin | head -n $((i * 20)) | tail -n 20; "
      "sleep 0.2; done; touch " +
      scrolled + "; sleep 100000";
  std::optional<test::Child> secret;
  if (opt.exclude)
    secret.emplace(std::vector<std::string>{"xterm", "-title", "deja-bench-secret", "-geometry",
                                            "45x20+990+100", "-e", "top", "-d", "1"},
                   std::vector<std::string>{"DISPLAY=" + x.display()});
  test::Child term({"xterm", "-geometry", "160x50+0+0", "-e", "sh", "-c", script},
                   {"DISPLAY=" + x.display()});
  const int64_t busy_start_ms = now_ms();
  double cpu0 = cpu_seconds();
  const double text_cpu0 = rec.stats().text_cpu_seconds;
  const uint64_t text_passes0 = rec.stats().text_passes;
  auto t0 = Clock::now();
  test::wait_for([&] { return path_exists(typed); }, 120s);
  double typing_s = seconds_since(t0), typing_cpu = cpu_seconds() - cpu0;
  // Text recognition's share, as its passes count it (a pass running at either end of the
  // stretch is counted when it ends).
  const double typing_text_cpu = rec.stats().text_cpu_seconds - text_cpu0;
  // Each pass over the typed lines is a few tenths of a second: how many fall inside the
  // stretch moves the typing figure by points from run to run.
  const uint64_t typing_passes = rec.stats().text_passes - text_passes0;
  uint64_t typing_frames = rec.stats().frames;
  // Scrolling full screens, from the end of typing until the listing stops.
  const double scroll_cpu0 = cpu_seconds(), scroll_text_cpu0 = rec.stats().text_cpu_seconds;
  const uint64_t scroll_passes0 = rec.stats().text_passes;
  const auto scroll_t0 = Clock::now();
  test::wait_for([&] { return path_exists(scrolled); }, 120s);
  const double scrolling_s = seconds_since(scroll_t0), scrolling_cpu = cpu_seconds() - scroll_cpu0;
  const double scrolling_text_cpu = rec.stats().text_cpu_seconds - scroll_text_cpu0;
  const uint64_t scrolling_passes = rec.stats().text_passes - scroll_passes0;
  test::wait_text_idle(rec, 1s);
  double busy_s = seconds_since(t0), busy_cpu = cpu_seconds() - cpu0;
  uint64_t busy_frames = rec.stats().frames;

  double cpu1 = cpu_seconds();
  auto t1 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.idle));
  double idle_s = seconds_since(t1), idle_cpu = cpu_seconds() - cpu1;
  uint64_t idle_frames = rec.stats().frames - busy_frames;
  rec.stop();
  const int64_t end_ms = now_ms();

  DisplayIndex index(catalog);
  int64_t video = 0;
  int segments = 0;
  {
    db::Statement st(index.catalog().database(),
                     "SELECT coalesce(sum(bytes), 0), count(*) FROM display_segments");
    st.step();
    video = st.int64(0);
    segments = int(st.int64(1));
  }
  const double hours = double(end_ms - busy_start_ms) / 3.6e6;
  const int64_t index_bytes = catalog_bytes(catalog);

  std::printf("workload: typing %.1f s, then scrolling, busy %.1f s in all; idle %.1f s\n",
              typing_s, busy_s, idle_s);
  std::printf("recorder CPU typing:  %5.1f %% of one core, %llu frames; text recognition %.1f %% "
              "(%llu passes)\n",
              100 * typing_cpu / typing_s, static_cast<unsigned long long>(typing_frames),
              100 * typing_text_cpu / typing_s, static_cast<unsigned long long>(typing_passes));
  std::printf("recorder CPU scrolling: %5.1f %% of one core; text recognition %.1f %% "
              "(%llu passes, %.1f s)\n",
              100 * scrolling_cpu / scrolling_s, 100 * scrolling_text_cpu / scrolling_s,
              static_cast<unsigned long long>(scrolling_passes), scrolling_s);
  std::printf("recorder CPU busy:    %5.1f %% (capture, encoding and text recognition)\n",
              100 * busy_cpu / busy_s);
  std::printf("recorder CPU idle:    %5.2f %%, %llu frames while idle\n", 100 * idle_cpu / idle_s,
              static_cast<unsigned long long>(idle_frames));
  std::printf("frames: %llu in %d segments, %lld bytes of video, %lld bytes of catalog\n",
              static_cast<unsigned long long>(rec.stats().frames), segments,
              static_cast<long long>(video), static_cast<long long>(index_bytes));
  std::printf("video: %.1f MB per hour of this workload (%.1f MB per busy hour)\n",
              double(video) / hours / 1e6, double(video) / (busy_s / 3600) / 1e6);
  std::printf("index: %.2f MB per hour of this workload\n", double(index_bytes) / hours / 1e6);
  if (opt.exclude)
    std::printf("exclusion: %.3f ms per frame blacking out the excluded window (%.2f s in all)\n",
                1000 * rec.stats().mask_seconds / double(std::max<uint64_t>(rec.stats().frames, 1)),
                rec.stats().mask_seconds);

  // Frame latency as `deja frame` pays it, minus process start: look up, open the
  // segment, seek to the keyframe, decode up to the frame, write the PNG.
  std::mt19937 gen(42);
  std::uniform_int_distribution<int64_t> when(busy_start_ms, end_ms);
  std::vector<double> lat;
  for (int i = 0; i < opt.frames; ++i) {
    auto t = Clock::now();
    auto loc = index.frame_at("bench", when(gen));
    if (!loc) continue;
    VideoReader reader(rec_dir + "/" + loc->segment.file);
    reader.seek(loc->key_pts_ms);
    write_png(reader.decode_until(loc->pts_ms).frame, dir.path() + "/f.png");
    lat.push_back(seconds_since(t) * 1000);
  }
  Percentiles p = percentiles(lat);
  std::printf("frame at random time (%zu): p50 %.1f ms, p95 %.1f ms, max %.1f ms\n", lat.size(),
              p.p50, p.p95, p.max);
}

}  // namespace
}  // namespace deja::display

int main(int argc, char** argv) {
  deja::display::Options opt;
  for (int i = 1; i < argc; ++i) {
    auto value = [&] { return i + 1 < argc ? argv[++i] : ""; };
    if (!std::strcmp(argv[i], "--idle")) {
      opt.idle = std::atof(value());
    } else if (!std::strcmp(argv[i], "--frames")) {
      opt.frames = std::atoi(value());
    } else if (!std::strcmp(argv[i], "--no-text")) {
      opt.text = false;
    } else if (!std::strcmp(argv[i], "--exclude")) {
      opt.exclude = true;
    } else {
      std::fprintf(stderr, "usage: %s [--idle SEC] [--frames N] [--no-text] [--exclude]\n", argv[0]);
      return 2;
    }
  }
  try {
    deja::display::record_workload(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "display_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
