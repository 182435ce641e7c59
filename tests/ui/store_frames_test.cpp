// Frames read in deja-ui's own process (StoreFrames) on a real store with a real recorded
// desktop: the same pixels as `deja frame` for the same moment, in the segment still being
// recorded and in a finished one; the reasons for no frame; a burst of requests answered
// only for the newest, and a thumbnail given up for it answered after it; and the real
// window scrubbed with the mouse, painting the frame of the moment under the cursor without
// starting a single `deja frame`. Needs root and xterm.
#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>
#include <algorithm>
#include <optional>

#include "RealStore.h"
#include "ui/BrowserWindow.h"
#include "ui/FrameView.h"
#include "ui/StoreFrames.h"
#include "ui/ThumbnailStrip.h"
#include "ui/TimelineWidget.h"

using namespace deja::ui;
using deja::ui::test::RealStore;

namespace {

constexpr int kWaitMs = 60000;

StoreFrames* frames_of(const RealStore& store) {
  return new StoreFrames(store.path() + "/catalog.db", store.path() + "/fs/recordings");
}

// The cursor lane's reply to one request (an error reply when none comes within kWaitMs).
FrameReply ask(StoreFrames& frames, const QString& session, double t, quint64 ticket = 1) {
  QSignalSpy replied(&frames, &FrameSource::replied);
  frames.request(FrameSource::kCursor, {session, t, {}, ticket});
  if (!replied.wait(kWaitMs)) return {FrameSource::kCursor, {}, {}, {}, "no reply"};
  return replied.at(0).at(0).value<FrameReply>();
}

// `deja frame SESSION@T` as the command line writes it.
QImage deja_frame(RealStore& store, const QString& session, double t) {
  QTemporaryDir dir;
  const QString file = dir.filePath("frame.png");
  store.run({"frame", QStringLiteral("%1@%2").arg(session).arg(t, 0, 'f', 3), "-o", file});
  return QImage(file).convertToFormat(QImage::Format_RGB32);
}

double seconds_since(double unix_start) {
  return QDateTime::currentMSecsSinceEpoch() / 1000.0 - unix_start;
}

}  // namespace

class StoreFramesTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() {
    qRegisterMetaType<FrameReply>();
    QVERIFY2(!QStandardPaths::findExecutable("xterm").isEmpty(),
             "xterm is missing: run scripts/install-deps.sh");
  }

  void same_pixels_as_deja_frame_and_reasons_for_none() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const double started = QDateTime::currentMSecsSinceEpoch() / 1000.0;
    const QString id = store.record_display(
        {"xterm", "-geometry", "80x20+0+0", "-bg", "#2050a0", "-fg", "#f0e040", "-e", "sh", "-c",
         "while :; do date +%T.%N; sleep 0.2; done"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    const QString still = store.record();  // recorded without its screen
    QVERIFY2(!still.isEmpty(), qPrintable(store.error()));
    QTest::qWait(5000);
    std::unique_ptr<StoreFrames> frames(frames_of(store));

    // The segment still being recorded: a moment a second and a half ago. (Colours that are
    // not grey: red and blue swapped would show.)
    const double t = seconds_since(started) - 1.5;
    const FrameReply live = ask(*frames, id, t);
    QVERIFY2(live.error.isEmpty(), qPrintable(live.error));
    QCOMPARE(live.request.t, t);
    const QImage expected = deja_frame(store, id, t);
    QVERIFY2(!expected.isNull(), qPrintable(store.error()));
    QCOMPARE(live.image.convertToFormat(QImage::Format_RGB32), expected);

    // Scaled to fit, off the GUI thread, with its aspect kept.
    QSignalSpy replied(frames.get(), &FrameSource::replied);
    frames->request(FrameSource::kThumbnails, {id, t, {320, 320}, 7});
    QVERIFY(replied.wait(kWaitMs));
    const FrameReply thumb = replied.at(0).at(0).value<FrameReply>();
    QCOMPARE(thumb.lane, int(FrameSource::kThumbnails));
    QCOMPARE(thumb.fitted.size(), expected.size().scaled(320, 320, Qt::KeepAspectRatio));

    // Stopped: its last segment is finished, and read from there the same as deja frame.
    store.run({"stop", id});
    QVERIFY2(store.error().isEmpty(), qPrintable(store.error()));
    const FrameReply done = ask(*frames, id, 2.0);
    QVERIFY2(done.error.isEmpty(), qPrintable(done.error));
    QCOMPARE(done.image.convertToFormat(QImage::Format_RGB32), deja_frame(store, id, 2.0));

    // No frame: one line saying why, in the session's seconds.
    const FrameReply early = ask(*frames, id, 0.0);
    QVERIFY2(early.error.contains("before the first recorded frame of session " + id),
             qPrintable(early.error));
    QVERIFY(early.image.isNull());
    const FrameReply none = ask(*frames, still, 1.0);
    QVERIFY2(none.error.contains("has no recorded screen"), qPrintable(none.error));
    const FrameReply unknown = ask(*frames, "nosuchsession", 1.0);
    QVERIFY2(unknown.error.contains("no session nosuchsession"), qPrintable(unknown.error));
  }

  void a_burst_of_requests_is_answered_for_the_newest() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const QString id = store.record_display({"xterm", "-e", "sh", "-c", "sleep 600"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    QTest::qWait(4000);
    std::unique_ptr<StoreFrames> frames(frames_of(store));
    QSignalSpy replied(frames.get(), &FrameSource::replied);
    // A thumbnail being read when the cursor asks is given up for it, and read after it.
    constexpr quint64 kThumb = 99;
    frames->request(FrameSource::kThumbnails, {id, 2.0, {64, 40}, kThumb});
    // As a fast drag asks: 30 moments before the event loop runs again. The one being read
    // when the others came is answered (or given up), then only the newest.
    constexpr int kBurst = 30;
    for (int i = 1; i <= kBurst; ++i)
      frames->request(FrameSource::kCursor, {id, 1.0 + i * 0.05, {}, quint64(i)});
    auto last_of = [&](int lane) {
      std::optional<FrameReply> last;
      for (const QList<QVariant>& r : replied)
        if (r.at(0).value<FrameReply>().lane == lane) last = r.at(0).value<FrameReply>();
      return last;
    };
    QTRY_VERIFY_WITH_TIMEOUT(last_of(FrameSource::kCursor) &&
                                 last_of(FrameSource::kCursor)->request.ticket == quint64(kBurst),
                             kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(last_of(FrameSource::kThumbnails), kWaitMs);
    QTest::qWait(500);  // nothing else comes
    QVERIFY2(replied.count() < 6, qPrintable(QString::number(replied.count())));
    QCOMPARE(last_of(FrameSource::kCursor)->request.ticket, quint64(kBurst));
    QVERIFY(last_of(FrameSource::kCursor)->error.isEmpty());
    QCOMPARE(last_of(FrameSource::kThumbnails)->request.ticket, kThumb);
    QVERIFY(!last_of(FrameSource::kThumbnails)->fitted.isNull());
  }

  void the_window_paints_the_frame_under_the_mouse_without_deja_frame() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const QString id = store.record_display(
        {"xterm", "-e", "sh", "-c", "while :; do date +%T.%N; sleep 0.2; done"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    QTest::qWait(5000);

    // deja through a wrapper that logs each command: frames must not be among them.
    QTemporaryDir bin;
    const QString log = bin.filePath("commands.log"), wrapper = bin.filePath("deja");
    QFile script(wrapper);
    QVERIFY(script.open(QIODevice::WriteOnly));
    script.write(QStringLiteral("#!/bin/sh\necho \"$*\" >> '%1'\nexec '%2' \"$@\"\n")
                     .arg(log, store.deja())
                     .toUtf8());
    script.close();
    QVERIFY(script.setPermissions(script.permissions() | QFile::ExeOwner));
    auto commands = [&] {
      QFile f(log);
      return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    };

    BrowserWindow w(wrapper, store.path());
    use_store_directly(w, store.path());
    QVERIFY(qobject_cast<StoreFrames*>(w.frame_source()));
    w.resize(1280, 800);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), id, kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->has_frame(), kWaitMs);

    TimelineWidget* axis = w.timeline_widget();
    QSignalSpy painted(w.frame_view(), &FrameView::painted);
    for (int x : {axis->width() / 4, axis->width() / 2, axis->width() / 3}) {
      painted.clear();
      QTest::mouseClick(axis, Qt::LeftButton, {}, QPoint(x, axis->height() / 2));
      const double t = axis->time();
      QTRY_VERIFY_WITH_TIMEOUT(!painted.isEmpty() && painted.last().at(0).toDouble() == t, kWaitMs);
      QCOMPARE(w.frame_view()->frame_time(), t);
      QCOMPARE(w.frame_view()->toolTip(), QStringLiteral("%1@%2").arg(id).arg(t, 0, 'f', 3));
      // What is painted is the moment's frame, scaled: as deja frame gives it.
      const QImage expected = deja_frame(store, id, t);
      QCOMPARE(w.frame_view()->pixmap().toImage().convertToFormat(QImage::Format_RGB32),
               expected.scaled(w.frame_view()->contentsRect().size(), Qt::KeepAspectRatio,
                               Qt::SmoothTransformation));
    }
    // The thumbnails come the same way.
    QTRY_VERIFY_WITH_TIMEOUT(w.thumbnails()->loaded() >= 2, kWaitMs);
    QVERIFY2(commands().contains("sessions --json"), qPrintable(commands()));  // the log works
    QVERIFY2(!commands().contains("frame "), qPrintable(commands()));
    if (QString dir = qEnvironmentVariable("DEJA_UI_SCREENSHOT_DIR"); !dir.isEmpty()) {
      QDir().mkpath(dir);
      QVERIFY(w.grab().save(dir + "/scrub-in-process.png"));
    }
  }

  void activity_covers_the_segment_being_recorded() {
    // A session younger than a segment (60 s): the catalog has no frame row of it yet. Its
    // clock changes the screen 5 times a second, so every second has activity.
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const QString id = store.record_display(
        {"xterm", "-e", "sh", "-c", "while :; do date +%T.%N; sleep 0.2; done"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    QTest::qWait(8000);
    BrowserWindow w(store.deja(), store.path());
    use_store_directly(w, store.path());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), id, kWaitMs);
    TimelineWidget* axis = w.timeline_widget();
    // Well before its first segment is finished (60 s), when the catalog would list them.
    QTRY_VERIFY_WITH_TIMEOUT(axis->activity().size() >= 7, 20000);
    // From when xterm is surely up (3 s in) to the newest whole second.
    const std::vector<int>& busy = axis->activity();
    const auto quiet = std::count(busy.begin() + 3, busy.end() - 1, 0);
    QVERIFY2(quiet == 0, qPrintable(QStringLiteral("%1 of %2 seconds without a frame")
                                        .arg(quiet)
                                        .arg(busy.size() - 4)));
    // Later reads (every refresh) add what was recorded since, from the readers kept.
    const size_t seen = busy.size();
    QTRY_VERIFY_WITH_TIMEOUT(axis->activity().size() >= seen + 3, 20000);
    const std::vector<int>& later = axis->activity();
    QVERIFY(std::count(later.begin() + 3, later.end() - 1, 0) == 0);
  }
};

DEJA_REAL_STORE_TEST_MAIN(StoreFramesTest)
#include "store_frames_test.moc"
