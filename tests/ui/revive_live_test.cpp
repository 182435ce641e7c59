// Playback and Revive in the browser on a real store: a default desktop session (twm and
// an xterm) with one checkpoint is played back at 32x and stepped frame by frame; Revive at
// the cursor makes a branch that opens live beside the recorded frame, and keys typed into
// that live view run in the branch (a file appears in the branch's files, not in the
// original's). The thumbnail strip fills with the session's screen. Saves timeline-strip.png
// and revive-live.png when DEJA_UI_SCREENSHOT_DIR is set. Needs root (else
// skipped), twm and xterm.
#include <QDir>
#include <QFileInfo>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include "RealStore.h"
#include "ui/BrowserWindow.h"
#include "ui/CheckpointDetails.h"
#include "ui/FrameView.h"
#include "ui/LiveView.h"
#include "ui/PlaybackBar.h"
#include "ui/StoreFrames.h"
#include "ui/ThumbnailStrip.h"
#include "ui/TimelineWidget.h"

using namespace deja::ui;
using deja::ui::test::RealStore;

namespace {

constexpr int kWaitMs = 60000;

// Types `text` (characters that need no Shift) and Return into `view` as the X platform
// would deliver them: the keysym as the native virtual key (Latin-1 keysyms are the
// characters' codes), and a host keycode that pairs each release with its press.
void type_into(QWidget* view, const QString& text) {
  auto send = [&](QEvent::Type type, quint32 keysym, int key, const QString& s) {
    QKeyEvent e(type, key, Qt::NoModifier, 100 + (keysym & 0x7f), keysym, 0, s);
    QApplication::sendEvent(view, &e);
  };
  for (QChar c : text) {
    const quint32 sym = c.unicode();
    send(QEvent::KeyPress, sym, c.toUpper().unicode(), c);
    send(QEvent::KeyRelease, sym, c.toUpper().unicode(), c);
    QTest::qWait(20);
  }
  send(QEvent::KeyPress, 0xff0d, Qt::Key_Return, QStringLiteral("\r"));
  send(QEvent::KeyRelease, 0xff0d, Qt::Key_Return, QStringLiteral("\r"));
}

QString session_files(const RealStore& store, const QString& id) {
  return store.path() + QStringLiteral("/fs/sessions/") + id;
}

}  // namespace

class ReviveLiveTest : public QObject {
  Q_OBJECT
 private slots:
  void playback_steps_and_revive_into_the_live_view() {
    for (const char* program : {"twm", "xterm"})
      QVERIFY2(!QStandardPaths::findExecutable(program).isEmpty(),
               "twm or xterm is missing: run scripts/install-deps.sh");
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    // No command: the default desktop.
    const QString id = store.run({"record", "--detach", "--interval", "0"});
    QVERIFY2(!id.isEmpty(), qPrintable(store.error()));
    store.adopt(id);
    QTest::qWait(6000);  // twm and the xterm come up and draw
    const quint64 crid = store.checkpoint(id);
    QVERIFY2(crid > 0, qPrintable(store.error()));

    BrowserWindow w(store.deja(), store.path());
    use_store_directly(w, store.path());  // as deja-ui: frames in process, branches live
    w.resize(1400, 900);
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.details()->reference(), QStringLiteral("%1:%2").arg(id).arg(crid),
                              kWaitMs);

    // The strip under the timeline fills with the session's screen across the axis.
    ThumbnailStrip* strip = w.thumbnails();
    QTRY_VERIFY_WITH_TIMEOUT(strip->times().size() >= 2, kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(strip->loaded() >= int(strip->times().size()) - 1, kWaitMs);
    const QString shots = qEnvironmentVariable("DEJA_UI_SCREENSHOT_DIR");
    if (!shots.isEmpty()) {
      QDir().mkpath(shots);
      QVERIFY(w.grab().save(shots + "/timeline-strip.png"));
    }

    // Frame steps move the cursor by one recorder frame and show that moment's screen.
    PlaybackBar* bar = w.playback();
    QVERIFY(w.go_to(id, 3.0));
    QTest::mouseClick(bar->forward_button(), Qt::LeftButton);
    QCOMPARE(w.timeline_widget()->time(), 3.0 + PlaybackBar::kFrameSeconds);
    QTest::mouseClick(bar->back_button(), Qt::LeftButton);
    QTest::mouseClick(bar->back_button(), Qt::LeftButton);
    QCOMPARE(w.timeline_widget()->time(), 3.0 - PlaybackBar::kFrameSeconds);
    // Frames fetched on the way may show first; the last step's frame ends up shown.
    QTRY_COMPARE_WITH_TIMEOUT(w.frame_view()->toolTip(), QStringLiteral("%1@2.800").arg(id),
                              kWaitMs);
    QVERIFY(w.frame_view()->has_frame());

    // Playback at 32x from the start runs to the session's end (a second behind now while
    // it records) and stops there by itself, frames arriving on the way.
    QVERIFY(w.go_to(id, 0.0));
    bar->set_speed(32);
    QCOMPARE(bar->speed(), 32);
    QTest::mouseClick(bar->play_button(), Qt::LeftButton);
    QVERIFY(bar->playing());
    QTRY_VERIFY_WITH_TIMEOUT(!bar->playing(), kWaitMs);
    QVERIFY(w.timeline_widget()->time() > 4.0);  // the session is more than 6 s old
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->has_frame(), kWaitMs);
    // At 1x from 1 s it moves on until Pause, and then stays.
    QVERIFY(w.go_to(id, 1.0));
    bar->set_speed(1);
    QTest::mouseClick(bar->play_button(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(w.timeline_widget()->time() > 1.5, kWaitMs);
    QTest::mouseClick(bar->play_button(), Qt::LeftButton);
    QVERIFY(!bar->playing());
    const double paused = w.timeline_widget()->time();
    QTest::qWait(3 * PlaybackBar::kTickMs);
    QCOMPARE(w.timeline_widget()->time(), paused);

    // Revive at the cursor (after the checkpoint): the branch opens live beside the frame.
    const size_t s = w.timeline().find_session(id.toStdString());
    QVERIFY(w.go_to(id, w.timeline().checkpoints(s).back().t + 0.5));
    QTRY_VERIFY_WITH_TIMEOUT(w.revive_button()->isEnabled(), kWaitMs);
    QSignalSpy revived(&w, &BrowserWindow::revived);
    QTest::mouseClick(w.revive_button(), Qt::LeftButton);
    QVERIFY(revived.wait(kWaitMs));
    const QString branch = revived.at(0).at(0).toString();
    if (!branch.isEmpty()) store.adopt(branch);
    QVERIFY2(!branch.isEmpty(), qPrintable(w.status_text()));
    QTRY_VERIFY_WITH_TIMEOUT(w.live_view() != nullptr, kWaitMs);
    QCOMPARE(w.live_session(), branch);
    QVERIFY(w.frame_view()->isVisible() && w.live_view()->isVisible());  // side by side

    // Typed into the live view, a command runs in the branch. The pointer goes to the
    // middle of the screen first, where the xterm is (twm gives focus under the pointer).
    QWidget* live = w.live_view();
    const QPointF middle(live->width() / 2.0, live->height() / 2.0);
    QMouseEvent move(QEvent::MouseMove, middle, live->mapToGlobal(middle), Qt::NoButton,
                     Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(live, &move);
    QTest::qWait(500);
    type_into(live, QStringLiteral("touch /tmp/typed-in-branch"));
    const QString made = session_files(store, branch) + QStringLiteral("/tmp/typed-in-branch");
    QTRY_VERIFY_WITH_TIMEOUT(QFileInfo::exists(made), kWaitMs);
    QVERIFY(!QFileInfo::exists(session_files(store, id) + QStringLiteral("/tmp/typed-in-branch")));
    if (!shots.isEmpty()) QVERIFY(w.grab().save(shots + "/revive-live.png"));
  }
};

DEJA_REAL_STORE_TEST_MAIN(ReviveLiveTest)
#include "revive_live_test.moc"
