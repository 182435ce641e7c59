// Display components without an X server: change detection, text bookkeeping, query
// escaping, encoding round trips, and salvage of a segment cut off mid-write.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <random>

#include "TestSupport.h"
#include "base/Error.h"
#include "base/Files.h"
#include "display/ChangeDetector.h"
#include "display/DisplayIndex.h"
#include "display/ScreenHistory.h"
#include "display/ScreenRecorder.h"
#include "display/SegmentRecovery.h"
#include "display/TextIndexer.h"
#include "display/TextTracker.h"
#include "display/VideoReader.h"
#include "display/VideoWriter.h"
#include "display/XwdFramebuffer.h"

namespace deja::display {
namespace {

using test::TempDir;

// A frame whose pixels encode `n`: a grey level plus a block whose position moves, so
// decoded frames can be told apart despite lossy coding.
Frame numbered_frame(int w, int h, int n) {
  Frame f(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = f.row(y) + size_t(x) * 4;
      bool block = x >= (n % 8) * 16 && x < (n % 8) * 16 + 16 && y < 16;
      p[0] = p[1] = p[2] = block ? 255 : uint8_t(20 * (n % 10));
    }
  return f;
}

int frame_number(const Frame& f) {
  int grey = f.row(f.height - 1)[0];
  return (grey + 10) / 20;
}

TEST(ChangeDetector, ReportsOnlyChangedTiles) {
  const int w = 200, h = 50;
  std::vector<uint8_t> fb(size_t(w) * h * 4, 0);
  ChangeDetector cd(w, h);
  auto first = cd.update(fb.data(), size_t(w) * 4);
  ASSERT_FALSE(first.empty());  // the first look reports everything
  EXPECT_TRUE(cd.update(fb.data(), size_t(w) * 4).empty());
  fb[(size_t(20) * w + 130) * 4] = 7;  // one pixel in tile column 2, band 1
  auto changed = cd.update(fb.data(), size_t(w) * 4);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0], (Rect{128, 16, 64, 16}));
  EXPECT_EQ(cd.frame().row(20)[130 * 4], 7);
  EXPECT_TRUE(cd.update(fb.data(), size_t(w) * 4).empty());
  // The rightmost tile is narrower than the others.
  fb[(size_t(49) * w + 199) * 4] = 9;
  changed = cd.update(fb.data(), size_t(w) * 4);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0], (Rect{192, 48, 8, 2}));
}

TEST(TextTracker, KeepsLinesReadAgainAndClosesChangedOnes) {
  TextTracker t;
  t.track(1, {"hello world", {10, 10, 80, 12}, 90});
  t.track(2, {"status ok", {10, 100, 60, 12}, 90});
  // Line 1 is read again (box moved by a pixel), and something new appears near it;
  // line 2 lies outside the area read and must stay untouched.
  auto up = t.reconcile(
      {0, 0, 200, 50}, {{"hello world", {11, 10, 80, 12}, 88}, {"new line", {10, 30, 60, 12}, 80}});
  EXPECT_TRUE(up.closed.empty());
  ASSERT_EQ(up.opened.size(), 1u);
  EXPECT_EQ(up.opened[0].text, "new line");
  up = t.reconcile({0, 0, 200, 50}, {});
  EXPECT_EQ(up.closed, std::vector<int64_t>{1});
  Frame screen(200, 120);
  EXPECT_EQ(t.plan({50, 105, 5, 2}, screen, nullptr).area, (Rect{10, 100, 60, 12}));
  EXPECT_EQ(t.close_all(), std::vector<int64_t>{2});
}

TEST(TextTracker, LineWithUnchangedPixelsStaysOneAppearanceWhateverIsReadNow) {
  Frame screen(200, 60);
  auto paint = [&](const Rect& r, uint8_t v) {
    for (int y = r.y; y < r.bottom(); ++y)
      for (int x = r.x; x < r.right(); ++x) screen.row(y)[x * 4] = v;
  };
  paint({10, 10, 80, 12}, 200);
  TextTracker t;
  t.track(1, {"starved halogens humanize", {10, 10, 80, 12}, 90}, &screen);
  // The cursor below changed; the line is read again, partly ("starved halogens"), from
  // the same pixels: it stays open and nothing new opens inside it.
  paint({10, 30, 6, 12}, 90);
  auto up = t.reconcile({0, 0, 200, 50},
                        {{"starved halogens", {10, 10, 40, 12}, 70}, {"$", {10, 30, 6, 12}, 50}},
                        &screen);
  EXPECT_TRUE(up.closed.empty());
  ASSERT_EQ(up.opened.size(), 1u);
  EXPECT_EQ(up.opened[0].text, "$");
  // Its pixels change: now what is read decides.
  paint({60, 12, 4, 4}, 0);
  up = t.reconcile({0, 0, 200, 50}, {{"starved halogens", {10, 10, 40, 12}, 70}}, &screen);
  EXPECT_EQ(up.closed, std::vector<int64_t>{1});
  ASSERT_EQ(up.opened.size(), 1u);
}

// A keystroke re-reads the line it changed, not the unchanged lines the change tiles and
// the widening pull in; a line whose row changed beside it is read again whole.
TEST(TextTracker, PlanLeavesOutLinesUnchangedSinceTheLastPass) {
  Frame screen(300, 60);
  auto paint = [&](const Rect& r, uint8_t v) {
    for (int y = r.y; y < r.bottom(); ++y)
      for (int x = r.x; x < r.right(); ++x) screen.row(y)[x * 4] = v;
  };
  const Rect one{10, 2, 120, 12}, two{10, 16, 80, 12}, three{10, 30, 100, 12};
  for (const Rect& r : {one, two, three}) paint(r, 200);
  TextTracker t;
  t.track(1, {"first line", one, 90}, &screen);
  t.track(2, {"second line", two, 90}, &screen);
  t.track(3, {"third line", three, 90}, &screen);
  const Frame before = screen;
  // A character typed at the end of line 2: its change tile reaches into lines 1 and 3.
  paint({70, 20, 6, 6}, 0);
  const Rect tile{64, 0, 64, 48};
  TextTracker::Read read = t.plan(tile, screen, &before);
  EXPECT_EQ(read.area, (Rect{10, 0, 118, 48}));  // line 2 whole
  EXPECT_EQ(read.known, (std::vector<Rect>{one, three}));
  // Without the screen of the last pass nothing is known to be unchanged.
  read = t.plan(tile, screen, nullptr);
  EXPECT_EQ(read.area, (Rect{10, 0, 120, 48}));
  EXPECT_TRUE(read.known.empty());
  // Words appear right of line 3 (its own pixels unchanged): it is read again whole with
  // them, so the line's text stays one line.
  paint({150, 32, 30, 8}, 100);
  read = t.plan({64, 0, 128, 48}, screen, &before);
  EXPECT_EQ(read.area, (Rect{10, 0, 182, 48}));
  EXPECT_EQ(read.known, (std::vector<Rect>{one}));
  // Reading it changes nothing of what is tracked: line 1 stays open unread.
  auto up = t.reconcile(
      read.area,
      {{"second lines", {10, 16, 80, 12}, 90}, {"third line and more", {10, 30, 170, 12}, 90}},
      &screen);
  EXPECT_EQ(up.closed, std::vector<int64_t>{2});
  ASSERT_EQ(up.opened.size(), 2u);
  EXPECT_EQ(t.size(), 2u);  // lines 1 and 3 (whose own pixels did not change)
}

TEST(TextIndexer, MergesOnlyNearbyAreas) {
  auto merged = merge_nearby({{0, 0, 64, 16}, {0, 20, 64, 16}, {0, 300, 64, 16}}, 16);
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0], (Rect{0, 0, 64, 36}));
  EXPECT_EQ(merged[1], (Rect{0, 300, 64, 16}));
}

TEST(DisplayIndex, FtsQueryNeverPassesSyntax) {
  EXPECT_EQ(fts_query("hello"), "\"hello\"*");
  EXPECT_EQ(fts_query("--- "), "");
  // Quotes make phrases; an unclosed one runs to the end; operators are plain words.
  EXPECT_EQ(fts_query("\"build failed\" error"), "\"build failed\"* \"error\"*");
  EXPECT_EQ(fts_query("  a\"b OR (c*) "), "\"a\"* \"b OR c\"*");
  EXPECT_EQ(fts_query("\"\" \"-\""), "");
}

TEST(XvfbCommand, BuildsArgvAndRejectsBadGeometry) {
  auto argv = xvfb_command("1280x800", 7, "/run/fb");
  std::vector<std::string> want = {"Xvfb",        ":7",     "-screen", "0",
                                   "1280x800x24", "-fbdir", "/run/fb", "-nolisten",
                                   "tcp",         "-ac",    "-noreset"};
  EXPECT_EQ(argv, want);
  EXPECT_THROW(xvfb_command("big", 7, "/x"), Error);
  EXPECT_THROW(xvfb_command("640x480x16", 7, "/x"), Error);
}

TEST(XvfbCommand, SessionDisplayKeepsTheFramebufferInTheSessionFiles) {
  SessionDisplay d = session_display("/store/fs/sessions/abc", "1280x800x24");
  EXPECT_EQ(d.server_argv[1], ":0");
  EXPECT_EQ(d.server_argv[6], "/run/deja/display");
  EXPECT_EQ(d.framebuffer_on_host, "/store/fs/sessions/abc/run/deja/display/Xvfb_screen0");
  EXPECT_EQ(d.server_socket, "/tmp/.X11-unix/X0");
}

TEST(XwdFramebuffer, RejectsFilesThatAreNotXvfbScreens) {
  TempDir dir;
  std::string path = dir.path() + "/junk";
  write_file(path, std::string(400, 'x'));
  EXPECT_THROW(XwdFramebuffer{path}, Error);
  EXPECT_THROW(XwdFramebuffer{dir.path() + "/missing"}, SysError);
}

TEST(Video, DecodesTheLastFrameAtOrBeforeAnyTime) {
  TempDir dir;
  const std::string path = dir.path() + "/seg.mkv";
  VideoWriter w(path, 128, 64, VideoSettings{20, true});
  // Irregular times, a keyframe every fourth frame.
  std::vector<int64_t> pts;
  for (int n = 0; n < 12; ++n) {
    pts.push_back(n * 150 + (n % 3) * 40);
    w.write(numbered_frame(128, 64, n), pts.back(), n % 4 == 0);
  }
  w.finish();
  ASSERT_EQ(w.frames().size(), 12u);
  EXPECT_TRUE(w.frames()[4].key);
  EXPECT_FALSE(w.frames()[5].key);

  VideoReader r(path);
  for (int n = 0; n < 12; ++n) {
    DecodedFrame exact = r.frame_at(pts[n]);
    EXPECT_EQ(exact.pts_ms, pts[n]);
    EXPECT_EQ(frame_number(exact.frame), n % 10);
    if (n + 1 < 12) {
      EXPECT_EQ(r.frame_at(pts[n + 1] - 1).pts_ms, pts[n]);
    }
  }
  EXPECT_THROW(r.frame_at(-5), Error);
}

// A scrubber asks for moments near each other. A reader decodes each frame of a keyframe
// run once however its moments are asked (Abandon is asked once per frame decoded), gives
// the same pixels as a fresh reader, and a read given up between frames loses nothing.
TEST(Video, DecodesEachFrameOfARunOnceAndCanBeAbandoned) {
  TempDir dir;
  const std::string path = dir.path() + "/seg.mkv";
  VideoWriter w(path, 128, 64, VideoSettings{20, true});
  // Frames 0-9 (numbered_frame's grey wraps after 9, which x264 takes for a new scene).
  for (int n = 0; n < 10; ++n) w.write(numbered_frame(128, 64, n), n * 100, n % 5 == 0);
  w.finish();
  VideoReader r(path);
  int decoded = 0;
  const Abandon count = [&] { return ++decoded, false; };
  auto read = [&](int64_t t, int frames_decoded) {
    decoded = 0;
    DecodedFrame f = r.frame_at(t, count);
    EXPECT_EQ(decoded, frames_decoded) << t;
    EXPECT_EQ(f.pts_ms, t / 100 * 100) << t;
    EXPECT_EQ(f.frame.bgrx, VideoReader(path).frame_at(t).frame.bgrx) << t;
  };
  read(200, 3);  // frames 0-2
  read(250, 0);  // kept
  read(100, 0);
  read(400, 2);  // on from 2
  read(700, 3);  // the next run: 5-7
  read(300, 4);  // the first run again, from its keyframe
  int budget = 2;
  EXPECT_THROW(r.frame_at(900, [&] { return budget-- <= 0; }), Superseded);
  read(900, 3);  // 5 and 6 were decoded before it was given up: 7-9
  read(600, 0);
}

// The same for a segment still being written: what was decoded stays, what was appended
// since is decoded on from there.
TEST(Video, FollowsAGrowingRunWithoutDecodingItAgain) {
  TempDir dir;
  const std::string path = dir.path() + "/seg.mkv";
  VideoWriter w(path, 128, 64, VideoSettings{20, true});
  for (int n = 0; n < 4; ++n) w.write(numbered_frame(128, 64, n), n * 100, n == 0);
  VideoReader r(path);
  int decoded = 0;
  const Abandon count = [&] { return ++decoded, false; };
  std::optional<DecodedFrame> f = r.growing_frame_at(250, count);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->pts_ms, 200);
  EXPECT_EQ(decoded, 3);
  for (int n = 4; n < 8; ++n) w.write(numbered_frame(128, 64, n), n * 100, false);
  decoded = 0;
  f = r.growing_frame_at(650, count);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->pts_ms, 600);
  EXPECT_EQ(frame_number(f->frame), 6);
  EXPECT_EQ(decoded, 4);  // 3-6
  decoded = 0;
  f = r.growing_frame_at(100, count);
  ASSERT_TRUE(f);
  EXPECT_EQ(frame_number(f->frame), 1);
  EXPECT_EQ(decoded, 0);
}

// The recorder has only the changed tiles converted to the encoder's colours: the video is
// the one converting every whole frame gives, to the byte once decoded.
TEST(Video, ConvertingOnlyChangedBandsGivesTheSameVideo) {
  TempDir dir;
  constexpr int kW = 256, kH = 100;  // the last band is 4 rows
  Frame f(kW, kH);
  std::mt19937 gen(7);
  for (uint8_t& b : f.bgrx) b = uint8_t(gen());
  VideoWriter whole(dir.path() + "/whole.mkv", kW, kH, VideoSettings{});
  VideoWriter bands(dir.path() + "/bands.mkv", kW, kH, VideoSettings{});
  const std::vector<std::vector<Rect>> changes = {
      {}, {{64, 16, 64, 16}}, {{0, 32, 256, 32}, {128, 96, 64, 4}}, {{10, 50, 3, 1}}};
  for (size_t n = 0; n < changes.size(); ++n) {
    for (const Rect& r : changes[n])
      for (int y = r.y; y < r.bottom(); ++y)
        for (int x = r.x * 4; x < r.right() * 4; ++x) f.row(y)[x] = uint8_t(gen());
    whole.write(f, int64_t(n) * 100, n == 0);
    bands.write(f, int64_t(n) * 100, n == 0, &changes[n]);
  }
  whole.finish();
  bands.finish();
  VideoReader a(whole.path()), b(bands.path());
  for (size_t n = 0; n < changes.size(); ++n) {
    std::optional<DecodedFrame> fa = a.next(), fb = b.next();
    ASSERT_TRUE(fa && fb);
    EXPECT_EQ(fa->frame.bgrx, fb->frame.bgrx) << "frame " << n;
  }
}

// Screens come in widths that are no multiple of 16 (1366, 1440x900 scaled, a window): the
// colour conversion's vector code writes whole blocks, past the end of a tight row.
TEST(Video, DecodesWidthsThatAreNoMultipleOfSixteen) {
  TempDir dir;
  for (int w : {200, 130, 1366}) {
    const int h = 48;
    Frame f(w, h);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        uint8_t* p = f.row(y) + x * 4;
        p[0] = uint8_t(x), p[1] = uint8_t(y * 5), p[2] = uint8_t(x + y), p[3] = 0;
      }
    const std::string path = dir.path() + "/w" + std::to_string(w) + ".mkv";
    VideoWriter out(path, w, h, VideoSettings{});
    for (int n = 0; n < 3; ++n) out.write(f, n * 100, n == 0);
    out.finish();
    VideoReader in(path);
    for (int n = 0; n < 3; ++n) {
      std::optional<DecodedFrame> d = in.next();
      ASSERT_TRUE(d) << "width " << w << ", frame " << n;
      ASSERT_EQ(d->frame.width, w);
      ASSERT_EQ(d->frame.height, h);
      ASSERT_EQ(d->frame.bgrx.size(), f.bgrx.size());
    }
  }
}

TEST(Video, SalvagesASegmentCutOffMidWrite) {
  TempDir dir;
  const std::string path = dir.path() + "/seg.mkv";
  {
    VideoWriter w(path, 128, 64, VideoSettings{20, true});
    for (int n = 0; n < 10; ++n) w.write(numbered_frame(128, 64, n), n * 200, n % 5 == 0);
    // Dropped without finish(): as if the recorder was killed.
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  // Cut the last frame in half, as a power cut during its write would.
  ASSERT_EQ(::truncate(path.c_str(), st.st_size - 40), 0);
  std::vector<WrittenFrame> frames = salvage_segment(path);
  ASSERT_GE(frames.size(), 8u);
  ASSERT_LE(frames.size(), 9u);
  EXPECT_TRUE(frames[0].key);
  VideoReader r(path);
  DecodedFrame last = r.frame_at(frames.back().pts_ms);
  EXPECT_EQ(last.pts_ms, frames.back().pts_ms);
  EXPECT_EQ(frame_number(last.frame), int(frames.size()) - 1);

  write_file(path, "not a video");
  EXPECT_TRUE(salvage_segment(path).empty());
}

TEST(DisplayIndex, FindsFramesAcrossSegmentsAndHidesOpenOnes) {
  TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db";
  test::add_session(catalog, "s1");
  DisplayIndex index(catalog);
  int64_t a = index.open_segment("s1", "s1/1000.mkv", 1000, 64, 64);
  index.finish_segment(a, {{0, true}, {200, false}, {2100, true}, {2300, false}}, 10);
  int64_t b = index.open_segment("s1", "s1/5000.mkv", 5000, 64, 64);
  EXPECT_FALSE(index.frame_at("s1", 999));
  auto f = index.frame_at("s1", 3399);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->segment.id, a);
  EXPECT_EQ(f->pts_ms, 2300);
  EXPECT_EQ(f->key_pts_ms, 2100);
  // Segment b is still open: the last visible frame is in a.
  EXPECT_EQ(index.frame_at("s1", 6000)->time_ms(), 3300);
  index.finish_segment(b, {{0, true}, {500, false}}, 10);
  EXPECT_EQ(index.frame_at("s1", 6000)->time_ms(), 5500);
  auto clip = index.frames_between("s1", 1100, 5000);
  std::vector<int64_t> times;
  for (auto& l : clip) times.push_back(l.time_ms());
  EXPECT_EQ(times, (std::vector<int64_t>{1000, 1200, 3100, 3300, 5000}));
  EXPECT_EQ(index.open_segments().size(), 0u);
}

// Writes frames `numbers` at `pts` into <recordings>/s1/<start>.mkv; finished unless `open`
// (then the writer is returned still writing, as a live recorder's is).
std::unique_ptr<VideoWriter> write_segment(DisplayIndex& index, const std::string& recordings,
                                           int64_t start, const std::vector<int64_t>& pts,
                                           const std::string& state) {
  make_dirs(recordings + "/s1");
  const std::string file = "s1/" + std::to_string(start) + ".mkv";
  auto w = std::make_unique<VideoWriter>(recordings + "/" + file, 128, 64, VideoSettings{20, true});
  int64_t id = index.open_segment("s1", file, start, 128, 64);
  for (size_t i = 0; i < pts.size(); ++i)
    w->write(numbered_frame(128, 64, int(start / 1000 + i)), pts[i], i % 4 == 0);
  if (state == "open") return w;
  w->finish();
  index.finish_segment(id, w->frames(), 1, state);
  return nullptr;
}

TEST(ScreenHistory, ReadsTheOpenSegmentAndNamesEachMiss) {
  TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db", rec = dir.path() + "/recordings";
  test::add_session(catalog, "s1");
  test::add_session(catalog, "quiet");
  DisplayIndex index(catalog);
  // A recorder paused after 500 ms (recovered), resumed at 3000 (finished), and is now
  // writing a segment that started at 6000 (frame numbers: 1.., 3.., 6..).
  write_segment(index, rec, 1000, {0, 500}, "recovered");
  write_segment(index, rec, 4000, {0, 300}, "finished");
  auto live = write_segment(index, rec, 6000, {0, 300, 600, 900, 1200, 1500}, "open");
  ScreenHistory history(index, rec);

  ScreenAt a = history.at("s1", 1200);
  ASSERT_TRUE(a.frame);
  EXPECT_EQ(a.frame_ms, 1000);
  EXPECT_EQ(frame_number(*a.frame), 1);
  ScreenAt gap = history.at("s1", 2500);
  EXPECT_FALSE(gap.frame);
  EXPECT_EQ(gap.miss, ScreenAt::Miss::gap);
  EXPECT_EQ(gap.gap_from_ms, 1500);
  EXPECT_EQ(gap.gap_to_ms, 4000);
  EXPECT_EQ(history.at("s1", 5000).frame_ms, 4300);  // a still screen after a finished one
  // In the segment being written: the last frame at or before, past keyframes too.
  for (int64_t t : {6000, 6650, 7250, 7600}) {
    ScreenAt open = history.at("s1", t);
    ASSERT_TRUE(open.frame) << t;
    const int64_t expect = 6000 + (t - 6000) / 300 * 300;
    EXPECT_EQ(open.frame_ms, expect) << t;
    EXPECT_EQ(frame_number(*open.frame), (6 + (expect - 6000) / 300) % 10) << t;
  }
  EXPECT_EQ(history.at("s1", 999).miss, ScreenAt::Miss::before_first);
  EXPECT_EQ(history.at("s1", 999).first_ms, 1000);
  EXPECT_EQ(history.at("quiet", 5000).miss, ScreenAt::Miss::never);
}

// One history kept for many lookups (a scrubber) while its segment grows: each answer is
// the frame at or before the moment, back and forth, including frames written after the
// reader last reached the end of the file (it seeks by the keyframes it has read past).
TEST(ScreenHistory, FollowsAGrowingSegmentWithOneReader) {
  TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db", rec = dir.path() + "/recordings";
  test::add_session(catalog, "s1");
  DisplayIndex index(catalog);
  auto live = write_segment(index, rec, 6000, {0, 300}, "open");
  ScreenHistory history(index, rec);
  int written = 2;
  auto check = [&](int64_t t) {
    ScreenAt at = history.at("s1", t);
    ASSERT_TRUE(at.frame) << t;
    const int n = std::min<int>(written - 1, int((t - 6000) / 300));
    EXPECT_EQ(at.frame_ms, 6000 + n * 300) << t;
    EXPECT_EQ(frame_number(*at.frame), (6 + n) % 10) << t;
  };
  for (int round = 0; round < 6; ++round) {
    for (int k = 0; k < 5; ++k, ++written)
      live->write(numbered_frame(128, 64, 6 + written), written * 300, written % 4 == 0);
    const int64_t newest = 6000 + (written - 1) * 300;
    for (int64_t t : {newest + 50, int64_t{6010}, newest - 650, newest, 6000 + (newest - 6000) / 2})
      check(t);
  }
}

TEST(DisplayIndex, SearchRanksMatchesAndFiltersSessions) {
  TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db";
  test::add_session(catalog, "s1");
  test::add_session(catalog, "s2");
  DisplayIndex index(catalog);
  index.update_text("s1", {}, 0, {{"compile finished without errors", {0, 0, 10, 10}, 90}}, 1000);
  auto ids =
      index.update_text("s1", {}, 0, {{"errors errors everywhere", {0, 20, 10, 10}, 90}}, 2000);
  index.update_text("s2", {}, 0, {{"no errors here", {0, 0, 10, 10}, 90}}, 3000);
  ASSERT_EQ(ids.size(), 1u);
  index.update_text("s1", ids, 2500, {}, 0);
  db::Statement closed(index.catalog().database(), "SELECT last_ms FROM display_text WHERE id = ?");
  closed.bind(1, ids[0]);
  ASSERT_TRUE(closed.step());
  EXPECT_EQ(closed.int64(0), 2500);
  auto hits = index.search("errors", "", 10);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].text, "errors errors everywhere");
  EXPECT_EQ(index.search("error", "s2", 10).size(), 1u);  // prefix match
  EXPECT_EQ(index.search("finished errors", "", 10).size(), 1u);
  EXPECT_TRUE(index.search("\"(", "", 10).empty());
  // A word Tesseract split is found by its joined form; the text shown is as read.
  index.update_text("s2", {}, 0, {{"yel lowmeadow", {0, 0, 10, 10}, 90, "yellowmeadow"}}, 4000);
  auto joined = index.search("yellowmeadow", "", 10);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_EQ(joined[0].text, "yel lowmeadow");
}

TEST(DisplayIndex, SearchFindsPhrasesAndAppearancesInATimeRange) {
  TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db";
  test::add_session(catalog, "s1");
  DisplayIndex index(catalog);
  // "build failed" on screen 1000-2000 and again from 5000 on; "failed build" 3000-4000.
  auto first = index.update_text("s1", {}, 0, {{"make: build failed", {0, 0, 10, 10}, 90}}, 1000);
  auto other = index.update_text("s1", first, 2000, {{"failed build x", {0, 0, 9, 9}, 90}}, 3000);
  index.update_text("s1", other, 4000, {{"build failed again", {0, 0, 10, 10}, 90}}, 5000);
  auto phrase = [&](std::optional<int64_t> from, std::optional<int64_t> to) {
    TextQuery q;
    q.text = "\"build fail\"";
    q.from_ms = from;
    q.to_ms = to;
    std::vector<std::pair<int64_t, std::optional<int64_t>>> seen;
    for (const TextHit& h : index.search(q)) seen.push_back({h.first_ms, h.last_ms});
    std::sort(seen.begin(), seen.end());
    return seen;
  };
  using Seen = std::vector<std::pair<int64_t, std::optional<int64_t>>>;
  // One hit per appearance, each with its time on screen; the other order does not match.
  EXPECT_EQ(phrase({}, {}), (Seen{{1000, 2000}, {5000, std::nullopt}}));
  EXPECT_EQ(index.search("build failed", "s1", 10).size(), 3u);  // words in any order
  // An appearance is found by any moment it was on screen, the bounds included.
  EXPECT_EQ(phrase(1500, 1600), (Seen{{1000, 2000}}));
  EXPECT_EQ(phrase(2000, 4999), (Seen{{1000, 2000}}));
  EXPECT_EQ(phrase(2001, 4999), Seen{});
  EXPECT_EQ(phrase(9000, {}), (Seen{{5000, std::nullopt}}));
  EXPECT_EQ(phrase({}, 1000), (Seen{{1000, 2000}}));
}

// A line a GTK window shows is read twice, from its pixels and from the accessibility bus:
// search gives one hit for it, with the bus's exact text and both sources. The edited line
// that follows it, and the same words elsewhere or at another time, stay hits of their own.
TEST(DisplayIndex, SearchGivesOneHitPerAppearanceReadBothWays) {
  TempDir dir;
  const std::string catalog = dir.path() + "/catalog.db";
  test::add_session(catalog, "s1");
  DisplayIndex index(catalog);
  // The bus: "the quick fox" at 1000-3000, then edited to "the quick cat"; OCR reads the
  // same a little later (its box from the ink, a word misread, merged with a neighbour).
  auto bus = index.update_text("s1", {}, 0, {{"the quick fox", {10, 10, 100, 14}, 100}}, 1000, {},
                               "atspi");
  auto ocr = index.update_text("s1", {}, 0, {{"the quick f0x | menu", {11, 11, 140, 12}, 80}},
                               1200);
  bus = index.update_text("s1", bus, 3000, {{"the quick cat", {10, 10, 100, 14}, 100}}, 3000, {},
                          "atspi");
  ocr = index.update_text("s1", ocr, 3100, {{"the quick cat", {11, 11, 98, 12}, 80}}, 3100);
  // The window goes at 9000. The same words elsewhere on screen, and later at the first
  // place, read by OCR alone.
  index.update_text("s1", bus, 9000, {}, 0, {}, "atspi");
  index.update_text("s1", ocr, 9000, {}, 0);
  index.update_text("s1", {}, 0, {{"the quick fox", {10, 300, 100, 14}, 80}}, 1000);
  index.update_text("s1", {}, 0, {{"the quick fox", {10, 10, 100, 14}, 80}}, 9000);
  std::vector<TextHit> hits = index.search("quick", "s1", 10);
  ASSERT_EQ(hits.size(), 4u);
  auto find = [&](int64_t first_ms, int y) -> const TextHit& {
    auto it = std::find_if(hits.begin(), hits.end(),
                           [&](const TextHit& h) { return h.first_ms == first_ms && h.box.y == y; });
    EXPECT_NE(it, hits.end()) << first_ms << " " << y;
    return it == hits.end() ? hits.front() : *it;
  };
  const TextHit& fox = find(1000, 10);
  EXPECT_EQ(fox.text, "the quick fox");
  EXPECT_EQ(fox.source, "atspi");
  EXPECT_EQ(fox.sources, (std::vector<std::string>{"atspi", "ocr"}));
  EXPECT_EQ(fox.last_ms, std::optional<int64_t>(3100));
  const TextHit& cat = find(3000, 10);
  EXPECT_EQ(cat.text, "the quick cat");
  EXPECT_EQ(cat.sources, (std::vector<std::string>{"atspi", "ocr"}));
  EXPECT_EQ(cat.last_ms, std::optional<int64_t>(9000));
  EXPECT_EQ(find(1000, 300).sources, std::vector<std::string>{"ocr"});
  EXPECT_EQ(find(9000, 10).sources, std::vector<std::string>{"ocr"});
  // The limit counts appearances, not rows.
  EXPECT_EQ(index.search("quick", "s1", 2).size(), 2u);
}

}  // namespace
}  // namespace deja::display
