// The time-based timeline on a real store: a session recorded with its display and no
// checkpoints (as every display session is today) has an axis spanning its whole time, the
// cursor follows it a second behind now with the screen shown from the segment still being
// recorded, and scrubbing back shows an earlier moment and stays there. Saves
// live-timeline.png when DEJA_UI_SCREENSHOT_DIR is set. Needs root (else skipped) and xterm.
#include <QDateTime>
#include <QDir>
#include <QStandardPaths>
#include <QTest>

#include "RealStore.h"
#include "ui/BrowserWindow.h"
#include "ui/FrameView.h"
#include "ui/StoreFrames.h"
#include "ui/TimelineWidget.h"

using namespace deja::ui;
using deja::ui::test::RealStore;

namespace {

constexpr int kWaitMs = 60000;

// The share of the frame that is close to white: the xterm's background (80x20 characters
// of 6x13 pixels on 1280x800 is 12 %; Xvfb's bare screen has none).
double white_share(const QPixmap& pixmap) {
  QImage image = pixmap.toImage().convertToFormat(QImage::Format_RGB32);
  int n = 0, all = 0;
  for (int y = 0; y < image.height(); y += 2)
    for (int x = 0; x < image.width(); x += 2, ++all)
      if (qGray(image.pixel(x, y)) > 240) ++n;
  return all ? double(n) / all : 0;
}

}  // namespace

class LiveTimelineTest : public QObject {
  Q_OBJECT
 private slots:
  void display_session_without_checkpoints_is_scrubbed_whole() {
    QVERIFY2(!QStandardPaths::findExecutable("xterm").isEmpty(),
             "xterm is missing: run scripts/install-deps.sh");
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const double started = QDateTime::currentMSecsSinceEpoch() / 1000.0;
    const QString id = store.record_display(
        {"xterm", "-geometry", "80x20+0+0", "-e", "sh", "-c", "sleep 2; ls -l /; sleep 600"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    QTest::qWait(5000);

    BrowserWindow w(store.deja(), store.path());
    use_store_directly(w, store.path());  // as deja-ui: frames read in process
    w.resize(1280, 800);
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), id, kWaitMs);
    TimelineWidget* timeline = w.timeline_widget();
    QVERIFY(timeline->tick_times().empty());  // no checkpoint at all
    // The axis spans the session so far, and the cursor follows it a second behind now.
    auto age = [&] { return QDateTime::currentMSecsSinceEpoch() / 1000.0 - started; };
    QTRY_VERIFY_WITH_TIMEOUT(timeline->visible_range().second >= age() - 1.5, kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(timeline->time() >= age() - 3, kWaitMs);
    const double followed = timeline->time();
    QTRY_VERIFY_WITH_TIMEOUT(timeline->time() > followed + 0.5, kWaitMs);  // it moves on
    // The frame a second ago, from the segment still being written: the xterm is there.
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->has_frame(), kWaitMs);
    QVERIFY2(white_share(w.frame_view()->pixmap()) > 0.06,
             qPrintable(QString::number(white_share(w.frame_view()->pixmap()))));
    if (QString dir = qEnvironmentVariable("DEJA_UI_SCREENSHOT_DIR"); !dir.isEmpty()) {
      QDir().mkpath(dir);
      QVERIFY(w.grab().save(dir + "/live-timeline.png"));
    }

    // Back in the past: the cursor stays there while the session goes on.
    QVERIFY(w.go_to(id, 1.0));
    QTest::qWait(2 * BrowserWindow::kLiveMs + ProcessFrames::kSettleMs);
    QCOMPARE(timeline->time(), 1.0);
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->has_frame(), kWaitMs);
  }
};

DEJA_REAL_STORE_TEST_MAIN(LiveTimelineTest)
#include "live_timeline_test.moc"
