// How long deja ui takes to open a session's timeline: from the window's construction until
// the session is chosen with all its checkpoints as ticks (`deja sessions`, `deja
// checkpoints --json`, parsing) and until its activity plot is read from the catalog.
// Run offscreen by timeline_open.py on a store holding a synthetic 24-hour session.
//
//   timeline_open_probe DEJA STORE SESSION CHECKPOINTS
// prints: ticks_ms <ms> activity_ms <ms> seconds_plotted <n>
#include <QApplication>
#include <QElapsedTimer>
#include <QTest>
#include <cstdio>

#include "ui/BrowserWindow.h"
#include "ui/TimelineWidget.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: timeline_open_probe DEJA STORE SESSION CHECKPOINTS\n");
    return 2;
  }
  QApplication app(argc, argv);
  const QString session = QString::fromLocal8Bit(argv[3]);
  const size_t checkpoints = std::strtoul(argv[4], nullptr, 10);
  QElapsedTimer clock;
  clock.start();
  deja::ui::BrowserWindow w(QString::fromLocal8Bit(argv[1]), QString::fromLocal8Bit(argv[2]));
  w.show();
  deja::ui::TimelineWidget* t = w.timeline_widget();
  qint64 ticks_ms = -1, activity_ms = -1;
  while (clock.elapsed() < 120000 && (ticks_ms < 0 || activity_ms < 0)) {
    QTest::qWait(2);
    if (w.current_session() != session) continue;
    if (ticks_ms < 0 && t->tick_times().size() == checkpoints) ticks_ms = clock.elapsed();
    if (activity_ms < 0 && !t->activity().empty()) activity_ms = clock.elapsed();
  }
  if (ticks_ms < 0 || activity_ms < 0) {
    std::fprintf(stderr, "timeline_open_probe: not loaded within 120 s (%zu ticks): %s\n",
                 t->tick_times().size(), qPrintable(w.status_text()));
    return 1;
  }
  t->grab();  // and drawn once
  std::printf("ticks_ms %lld activity_ms %lld drawn_ms %lld seconds_plotted %zu\n",
              static_cast<long long>(ticks_ms), static_cast<long long>(activity_ms),
              static_cast<long long>(clock.elapsed()), t->activity().size());
  return 0;
}
