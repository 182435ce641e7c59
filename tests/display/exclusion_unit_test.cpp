// Excluded windows without an X server: which windows match, what of them is hidden when
// other windows cover them, and the recorded screen kept black there as they come, move
// and go.
#include <gtest/gtest.h>

#include <algorithm>

#include "display/WindowExclusions.h"

namespace deja::display {
namespace {

WindowInfo window(std::string app, std::string title, Rect box) {
  return WindowInfo{1, app, "instance-of-" + app, std::move(title), box};
}

TEST(WindowExclusions, MatchClassInstanceOrTitleByPatternIgnoringCase) {
  WindowExclusions ex{{"keepass*"}, {"*private*"}};
  EXPECT_TRUE(ex.matches(window("KeePassXC", "db", {})));
  EXPECT_TRUE(ex.matches(window("Firefox", "Mozilla Firefox Private Browsing", {})));
  EXPECT_FALSE(ex.matches(window("Firefox", "Mozilla Firefox", {})));
  WindowInfo by_instance = window("XTerm", "t", {});
  by_instance.instance = "keepass";
  EXPECT_TRUE(ex.matches(by_instance));
  EXPECT_FALSE(WindowExclusions{}.matches(window("XTerm", "", {})));
}

int area(const std::vector<Rect>& rs) {
  int a = 0;
  for (const Rect& r : rs) a += r.w * r.h;
  return a;
}

TEST(HiddenAreas, AnExcludedWindowLessWhatOtherWindowsAboveItCover) {
  WindowExclusions ex{{"secret"}, {}};
  // Bottom first: the secret window, then a window above covering its right half.
  std::vector<WindowInfo> ws = {window("secret", "", {0, 0, 100, 100}),
                                window("xterm", "", {50, 20, 200, 50})};
  std::vector<Rect> hidden = hidden_areas(ws, ex);
  EXPECT_EQ(area(hidden), 100 * 100 - 50 * 50);
  for (const Rect& r : hidden) EXPECT_FALSE(r.intersects({50, 20, 200, 50}));
  // Below another window it stays hidden only where it shows.
  std::reverse(ws.begin(), ws.end());
  EXPECT_EQ(area(hidden_areas(ws, ex)), 100 * 100);
  // Two excluded windows overlapping: both hidden whole.
  ws = {window("secret", "", {0, 0, 100, 100}), window("secret", "", {50, 50, 100, 100})};
  EXPECT_EQ(hidden_areas(ws, ex).size(), 2u);
  EXPECT_EQ(area(hidden_areas(ws, ex)), 2 * 100 * 100);
}

TEST(Subtract, LeavesTheRestInAtMostFourPieces) {
  const std::vector<Rect> whole = {Rect{0, 0, 10, 10}};
  EXPECT_EQ(subtract({0, 0, 10, 10}, {20, 20, 5, 5}), whole);
  EXPECT_TRUE(subtract({0, 0, 10, 10}, {-5, -5, 30, 30}).empty());
  std::vector<Rect> ring = subtract({0, 0, 10, 10}, {3, 3, 4, 4});
  EXPECT_EQ(ring.size(), 4u);
  EXPECT_EQ(area(ring), 100 - 16);
}

Frame filled(int w, int h, uint8_t v) {
  Frame f(w, h);
  std::fill(f.bgrx.begin(), f.bgrx.end(), v);
  return f;
}

int zero_pixels(const Frame& f, Rect r) {
  int n = 0;
  for (int y = r.y; y < r.bottom(); ++y)
    for (int x = r.x; x < r.right(); ++x) n += f.row(y)[x * 4] == 0 && f.row(y)[x * 4 + 1] == 0;
  return n;
}

TEST(MaskedScreen, BlackWhereHiddenAndTheScreenBackWhenTheWindowGoes) {
  const Frame screen = filled(200, 100, 0x80);
  MaskedScreen m(200, 100);
  std::vector<Rect> touched = m.update(screen, {{0, 0, 200, 100}}, {{10, 10, 30, 20}});
  EXPECT_FALSE(touched.empty());
  EXPECT_EQ(zero_pixels(m.frame(), {0, 0, 200, 100}), 30 * 20);
  EXPECT_EQ(zero_pixels(m.frame(), {10, 10, 30, 20}), 30 * 20);
  // Nothing changed, nothing moved: nothing to write.
  EXPECT_TRUE(m.update(screen, {}, {{10, 10, 30, 20}}).empty());
  // The screen changes only under the hidden window: nothing recorded changes, even for a
  // tile reaching out of it.
  EXPECT_TRUE(m.update(filled(200, 100, 0x70), {{12, 12, 8, 8}}, {{10, 10, 30, 20}}).empty());
  Frame under = screen;
  under.row(15)[15 * 4] = 0x11;
  EXPECT_TRUE(m.update(under, {{0, 0, 64, 32}}, {{10, 10, 30, 20}}).empty());
  // It changes there and around: it stays black.
  const Frame later = filled(200, 100, 0x90);
  EXPECT_EQ(area(m.update(later, {{0, 0, 64, 32}}, {{10, 10, 30, 20}})), 64 * 32 - 30 * 20);
  EXPECT_EQ(zero_pixels(m.frame(), {10, 10, 30, 20}), 30 * 20);
  // It moves, with no change of the screen reported: the old place comes back, the new
  // one goes black, and both are reported as changed.
  touched = m.update(later, {}, {{100, 50, 30, 20}});
  EXPECT_EQ(zero_pixels(m.frame(), {0, 0, 200, 100}), 30 * 20);
  EXPECT_EQ(zero_pixels(m.frame(), {100, 50, 30, 20}), 30 * 20);
  EXPECT_EQ(m.frame().row(15)[15 * 4], 0x90);  // the screen as last brought in
  EXPECT_GE(area(touched), 2 * 30 * 20);
  // A box partly off the screen is clipped, not written past the frame.
  m.update(later, {}, {{180, 90, 50, 50}});
  EXPECT_EQ(zero_pixels(m.frame(), {0, 0, 200, 100}), 20 * 10);
  // It goes: nothing is black any more.
  m.update(later, {}, {});
  EXPECT_EQ(zero_pixels(m.frame(), {0, 0, 200, 100}), 0);
}

}  // namespace
}  // namespace deja::display
