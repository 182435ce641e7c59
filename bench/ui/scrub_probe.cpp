// Scrubbing as the user lives it in deja ui: the real browser window (set up as deja-ui sets
// it up) on a real store, the cursor moved on the timeline with QTest, timed from the mouse
// event until the frame of the new moment has been painted. Run offscreen by scrub_ui.py.
//
//   scrub_probe DEJA STORE SESSION MOVES [process]
//
// Clicks: MOVES clicks at random places on the axis, each waited for until painted.
// Drags: MOVES/4 drags of 12 mouse moves 16 ms apart (a 60 Hz mouse), timed from the last
// move of each; the moments passed over need not be read, only the last one matters.
// `process`: frames from a `deja frame` process each, as deja ui read them before (the
// scrubbing pause included); else read in process (StoreFrames), as deja-ui does now.
// prints: click_ms <median> <p95> drag_ms <median> <p95> (n=<clicks>/<drags>)
#include <QApplication>
#include <QElapsedTimer>
#include <QTest>
#include <QTimer>
#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <vector>

#include "ui/BrowserWindow.h"
#include "ui/FrameView.h"
#include "ui/StoreFrames.h"
#include "ui/TimelineWidget.h"

namespace {

using deja::ui::BrowserWindow;
using deja::ui::FrameView;
using deja::ui::TimelineWidget;

constexpr int kTimeoutMs = 20000;

// The last frame painted: its moment, and when (ms since `clock` started). Set from the
// view's signal as it paints, whatever the event loop was doing then.
struct Painted {
  double t = -1;
  double at_ms = -1;
};

// Milliseconds from `clock`'s start until the frame of moment `t` was painted; -1 when it is
// not within kTimeoutMs.
double until_painted(const Painted& last, double t) {
  if (!QTest::qWaitFor([&] { return last.t == t; }, kTimeoutMs)) return -1;
  return last.at_ms;
}

std::pair<double, double> median_p95(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 95 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && !(argc == 6 && std::string(argv[5]) == "process")) {
    std::fprintf(stderr, "usage: scrub_probe DEJA STORE SESSION MOVES [process]\n");
    return 2;
  }
  QApplication app(argc, argv);
  const QString session = QString::fromLocal8Bit(argv[3]);
  const int moves = std::atoi(argv[4]);
  BrowserWindow w(QString::fromLocal8Bit(argv[1]), QString::fromLocal8Bit(argv[2]));
  if (argc == 5) deja::ui::use_store_directly(w, QString::fromLocal8Bit(argv[2]));
  w.resize(1280, 800);
  w.show();
  if (!QTest::qWaitForWindowExposed(&w)) return 1;
  FrameView* view = w.frame_view();
  TimelineWidget* axis = w.timeline_widget();
  if (!QTest::qWaitFor([&] { return w.current_session() == session && view->has_frame(); }, 60000)) {
    std::fprintf(stderr, "scrub_probe: no first frame of %s: %s\n", argv[3], qPrintable(w.status_text()));
    return 1;
  }
  // Places on the axis, kept off its growing end (there the cursor would follow the session).
  std::mt19937 rng(7);
  const int left = 14, right = axis->width() * 9 / 10;
  std::uniform_int_distribution<int> place(left, right);
  const int y = axis->height() / 2;
  QElapsedTimer clock;
  Painted last;
  QObject::connect(view, &FrameView::painted, [&](double t) {
    last = {t, clock.nsecsElapsed() / 1e6};
  });
  std::vector<double> clicks, drags;
  int last_x = -1;
  for (int i = 0; i < moves; ++i) {
    int x = place(rng);
    if (x == last_x) x = x == right ? left : x + 1;  // the same moment again paints nothing
    last_x = x;
    last = {};
    clock.start();
    QTest::mouseClick(axis, Qt::LeftButton, {}, QPoint(x, y));
    const double ms = until_painted(last, axis->time());
    if (ms < 0) {
      std::fprintf(stderr, "scrub_probe: the frame at %.3f s was not painted: %s\n", axis->time(),
                   qPrintable(w.status_text()));
      return 1;
    }
    clicks.push_back(ms);
  }
  for (int i = 0; i < std::max(1, moves / 4); ++i) {
    // At least two pixels a move: each move is a new moment.
    const int from = place(rng);
    int to = place(rng);
    if (std::abs(to - from) < 24) to = from < (left + right) / 2 ? from + 24 : from - 24;
    QTest::mousePress(axis, Qt::LeftButton, {}, QPoint(from, y));
    constexpr int kSteps = 12;
    for (int s = 1; s <= kSteps; ++s) {
      QTest::qWait(16);
      last = {};
      clock.start();
      QTest::mouseMove(axis, QPoint(from + (to - from) * s / kSteps, y));
    }
    QTest::mouseRelease(axis, Qt::LeftButton, {}, QPoint(to, y));
    const double ms = until_painted(last, axis->time());
    if (ms < 0) {
      std::fprintf(stderr, "scrub_probe: the frame at the end of a drag (%.3f s) was not painted\n",
                   axis->time());
      return 1;
    }
    drags.push_back(ms);
  }
  const auto [click_median, click_p95] = median_p95(clicks);
  const auto [drag_median, drag_p95] = median_p95(drags);
  std::printf("click_ms %.1f %.1f drag_ms %.1f %.1f (n=%zu/%zu)\n", click_median, click_p95,
              drag_median, drag_p95, clicks.size(), drags.size());
  return 0;
}
