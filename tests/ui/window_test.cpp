// The browser window against a scripted deja (FakeDeja): the tree and timeline fill from the
// loader, frames show as images or as a message, search hits jump to their moment, revive
// refreshes the tree onto the new branch, and every failing command's one-line message
// reaches the status bar without crashing.
#include <QApplication>
#include <QBuffer>
#include <QCheckBox>
#include <QDir>
#include <QImage>
#include <QLineEdit>
#include <QListWidget>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeView>

#include <signal.h>

#include <cerrno>

#include "FakeDeja.h"
#include "ui/BrowserWindow.h"
#include "ui/CatalogLoader.h"
#include "ui/CheckpointDetails.h"
#include "ui/FrameView.h"
#include "ui/SearchPanel.h"
#include "ui/SessionTreeModel.h"
#include "ui/TimelineWidget.h"

using namespace deja::ui;
using deja::ui::test::FakeDeja;

namespace {

constexpr int kWaitMs = 10000;

QByteArray session_json(const char* id, const char* parent, int parent_crid, int count) {
  QByteArray p = parent ? QByteArray("\"") + parent + "\"" : QByteArray("null");
  QByteArray crid = parent ? QByteArray::number(parent_crid) : QByteArray("null");
  return QByteArray(R"({"id":")") + id + R"(","name":"n-)" + id +
         R"(","state":"recording","started":"2026-11-21T23:00:00.000Z","parent":)" + p +
         R"(,"parent_crid":)" + crid + R"(,"checkpoints":)" + QByteArray::number(count) + "}";
}

QByteArray checkpoints_json(std::initializer_list<std::pair<int, double>> list) {
  QByteArrayList items;
  for (auto [crid, t] : list)
    items << QStringLiteral(R"({"crid":%1,"t":%2,"time":"2026-11-21T23:00:0%1.000Z","fsid":%3,)"
                            R"("image_bytes":0,"pages_written":0,"downtime_ms":1.5,)"
                            R"("downtime_parts":{"freeze":0.2,"snapshot":1.2,"thaw":0.1}})")
                 .arg(crid)
                 .arg(t)
                 .arg(300 + crid)
                 .toUtf8();
  return "[" + items.join(',') + "]";
}

QByteArray png(int w, int h) {
  QImage image(w, h, QImage::Format_RGB32);
  image.fill(Qt::darkCyan);
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  image.save(&buffer, "PNG");
  return bytes;
}

// A recording "aaaa0001" with checkpoints 1-3 and its branch "bbbb0002" from CRID 2.
void standard_store(FakeDeja& fake) {
  fake.set_sessions("[" + session_json("aaaa0001", nullptr, 0, 3) + "," +
                    session_json("bbbb0002", "aaaa0001", 2, 1) + "]");
  fake.set_checkpoints("aaaa0001", checkpoints_json({{1, 0.5}, {2, 1.0}, {3, 2.0}}));
  fake.set_checkpoints("bbbb0002", checkpoints_json({{4, 0.25}}));
}

// For looking at the window: saved when DEJA_UI_SCREENSHOT_DIR is set.
void save_screenshot(QWidget& w, const char* name) {
  QString dir = qEnvironmentVariable("DEJA_UI_SCREENSHOT_DIR");
  if (dir.isEmpty()) return;
  QDir().mkpath(dir);
  QVERIFY(w.grab().save(dir + "/" + name));
}

bool called(const FakeDeja& fake, const QString& prefix) {
  for (const QString& c : fake.calls())
    if (c.startsWith(prefix)) return true;
  return false;
}

}  // namespace

class WindowTest : public QObject {
  Q_OBJECT
 private slots:
  void loads_tree_and_timeline_then_picks_the_first_session() {
    FakeDeja fake;
    QVERIFY(fake.ready());
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), QStringLiteral("aaaa0001"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(w.timeline_widget()->tick_times(),
                              (std::vector<double>{0.5, 1.0, 2.0}), kWaitMs);
    QVERIFY(w.timeline().check_consistency().empty());

    auto* tree = w.session_tree();
    QCOMPARE(tree->model()->rowCount(), 1);
    QModelIndex root = tree->model()->index(0, 0);
    QCOMPARE(root.data().toString(), QStringLiteral("aaaa0001"));
    QCOMPARE(tree->model()->index(0, 0, root).data().toString(), QStringLiteral("bbbb0002"));
    QVERIFY(tree->isExpanded(root));

    // Branch bbbb0002 came from CRID 2: the timeline flags it.
    QCOMPARE(w.timeline_widget()->branch_times(), (std::vector<double>{1.0}));

    // The cursor starts at the newest checkpoint, ready to revive it.
    QCOMPARE(w.timeline_widget()->time(), 2.0);
    QCOMPARE(w.details()->reference(), QStringLiteral("aaaa0001:3"));
    QVERIFY(w.revive_button()->isEnabled());
    QVERIFY(called(fake, "sessions --json"));
    QVERIFY(called(fake, "checkpoints aaaa0001 --json"));
    QVERIFY(called(fake, "checkpoints bbbb0002 --json"));

    // Choosing the branch in the tree shows its own timeline.
    tree->setCurrentIndex(tree->model()->index(0, 0, root));
    QCOMPARE(w.current_session(), QStringLiteral("bbbb0002"));
    QCOMPARE(w.timeline_widget()->tick_times(), (std::vector<double>{0.25}));
    QCOMPARE(w.details()->reference(), QStringLiteral("bbbb0002:4"));

    // Double-clicking the branch goes to where it came from: CRID 2 of its parent, at 1 s.
    QModelIndex branch = tree->model()->index(0, 0, root);
    // As a real double-click arrives: a click, then the double-click event (QTest sends only
    // the latter, and the tree ignores a double-click on a row that was not pressed).
    const QPoint at = tree->visualRect(branch).center();
    QTest::mouseClick(tree->viewport(), Qt::LeftButton, {}, at);
    QTest::mouseDClick(tree->viewport(), Qt::LeftButton, {}, at);
    QCOMPARE(w.current_session(), QStringLiteral("aaaa0001"));
    QCOMPARE(w.timeline_widget()->time(), 1.0);
    QCOMPARE(w.details()->reference(), QStringLiteral("aaaa0001:2"));
  }

  void scrubbing_picks_the_checkpoint_at_or_before_the_cursor() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.timeline_widget()->tick_times().size(), size_t(3), kWaitMs);
    w.timeline_widget()->setFocus();
    QTest::keyClick(w.timeline_widget(), Qt::Key_Left);
    QCOMPARE(w.details()->reference(), QStringLiteral("aaaa0001:2"));
    QCOMPARE(w.details()->branches(), QStringLiteral("bbbb0002"));
    save_screenshot(w, "branch-point.png");
    QTest::keyClick(w.timeline_widget(), Qt::Key_Home);  // t = 0: before the first
    QVERIFY(w.details()->reference().contains(QStringLiteral("No checkpoint at or before")));
    QVERIFY(!w.revive_button()->isEnabled());
  }

  void frame_at_the_cursor_is_shown_as_an_image() {
    FakeDeja fake;
    standard_store(fake);
    fake.set_frame(png(64, 40));
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->has_frame(), kWaitMs);
    QVERIFY(called(fake, "frame aaaa0001@2.000 -o "));
    QVERIFY(!w.frame_view()->pixmap().isNull());

    // The same moment again (as a refresh does) does not fetch it again. (The thumbnail
    // strip fetches its own frames, into thumb-*.png.)
    auto frames = [&] {
      int n = 0;
      for (const QString& c : fake.calls()) n += c.startsWith("frame ") && !c.contains("/thumb-");
      return n;
    };
    const int fetched = frames();
    w.frame_view()->show_time("aaaa0001", 2.0);
    QTest::qWait(ProcessFrames::kSettleMs * 3);
    QCOMPARE(frames(), fetched);
    // Another moment does.
    w.go_to("aaaa0001", 1.0);
    QTRY_COMPARE_WITH_TIMEOUT(frames(), fetched + 1, kWaitMs);
    QVERIFY(called(fake, "frame aaaa0001@1.000 -o "));
  }

  void a_frame_clears_the_earlier_no_frame_message() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_VERIFY_WITH_TIMEOUT(w.status_text().contains("unknown command 'frame'"), kWaitMs);
    fake.set_frame(png(32, 20));
    w.go_to("aaaa0001", 1.0);
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->has_frame(), kWaitMs);
    QCOMPARE(w.status_text(), QString());
  }

  void missing_frame_command_is_a_message_not_a_crash() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_VERIFY_WITH_TIMEOUT(called(fake, "frame aaaa0001@2.000"), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(w.frame_view()->text().contains("unknown command 'frame'"), kWaitMs);
    QVERIFY(!w.frame_view()->has_frame());
    QVERIFY(w.status_text().contains("deja: unknown command 'frame'"));
  }

  void search_hit_jumps_to_its_session_and_time() {
    FakeDeja fake;
    standard_store(fake);
    fake.set_search(R"([{"session":"bbbb0002","t":0.3,"time":"2026-11-21T23:00:00.300Z",
                         "text":"hello there","x":1,"y":2,"w":3,"h":4}])");
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), QStringLiteral("aaaa0001"), kWaitMs);
    QSignalSpy searched(w.search_panel(), &SearchPanel::searched);
    w.search_panel()->search(QStringLiteral("hello"));
    QTRY_COMPARE_WITH_TIMEOUT(searched.count(), 1, kWaitMs);
    QCOMPARE(searched.at(0).at(0).toInt(), 1);
    QVERIFY(called(fake, "search hello --json"));

    // Restricted to the chosen session, the search passes --session.
    QVERIFY(w.search_panel()->only_chosen()->isEnabled());
    w.search_panel()->only_chosen()->setChecked(true);
    w.search_panel()->search(QStringLiteral("hello"));
    QTRY_COMPARE_WITH_TIMEOUT(searched.count(), 2, kWaitMs);
    QVERIFY(called(fake, "search hello --session aaaa0001 --json"));
    QListWidget* hits = w.search_panel()->hits();
    QCOMPARE(hits->count(), 1);
    QVERIFY(hits->item(0)->text().contains("hello there"));

    QTest::mouseClick(hits->viewport(), Qt::LeftButton, {},
                      hits->visualItemRect(hits->item(0)).center());
    QCOMPARE(w.current_session(), QStringLiteral("bbbb0002"));
    QCOMPARE(w.timeline_widget()->time(), 0.3);
    QCOMPARE(w.details()->reference(), QStringLiteral("bbbb0002:4"));
    QCOMPARE(w.session_tree()->currentIndex().data().toString(), QStringLiteral("bbbb0002"));
  }

  void failing_search_reports_its_message() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    QSignalSpy searched(w.search_panel(), &SearchPanel::searched);
    w.search_panel()->search(QStringLiteral("anything"));
    QTRY_COMPARE_WITH_TIMEOUT(searched.count(), 1, kWaitMs);
    QVERIFY(w.status_text().contains("deja: unknown command 'search'"));
  }

  void revive_refreshes_the_tree_and_selects_the_branch() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.details()->reference(), QStringLiteral("aaaa0001:3"), kWaitMs);
    fake.set_revive("cccc0003", "[" + session_json("aaaa0001", nullptr, 0, 3) + "," +
                                    session_json("bbbb0002", "aaaa0001", 2, 1) + "," +
                                    session_json("cccc0003", "aaaa0001", 3, 1) + "]");
    fake.set_checkpoints("cccc0003", checkpoints_json({{5, 0.1}}));
    QSignalSpy revived(&w, &BrowserWindow::revived);
    QTest::mouseClick(w.revive_button(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(revived.count(), 1, kWaitMs);
    QCOMPARE(revived.at(0).at(0).toString(), QStringLiteral("cccc0003"));
    QVERIFY(called(fake, "revive aaaa0001:3 --detach"));
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), QStringLiteral("cccc0003"), kWaitMs);
    QModelIndex root = w.session_tree()->model()->index(0, 0);
    QCOMPARE(w.session_tree()->model()->rowCount(root), 2);
    QTRY_COMPARE_WITH_TIMEOUT(w.details()->reference(), QStringLiteral("cccc0003:5"), kWaitMs);
    QVERIFY(w.timeline().check_consistency().empty());
    save_screenshot(w, "revived.png");
  }

  void failing_revive_reports_its_message() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_VERIFY_WITH_TIMEOUT(w.revive_button()->isEnabled(), kWaitMs);
    QSignalSpy revived(&w, &BrowserWindow::revived);
    QTest::mouseClick(w.revive_button(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(revived.count(), 1, kWaitMs);
    QVERIFY(revived.at(0).at(0).toString().isEmpty());
    QVERIFY(w.status_text().contains("deja: unknown command 'revive'"));
    QVERIFY(w.revive_button()->isEnabled());
    QCOMPARE(w.current_session(), QStringLiteral("aaaa0001"));
  }

  void stop_ends_the_chosen_session() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.current_session(), QStringLiteral("aaaa0001"), kWaitMs);
    QVERIFY(w.stop_button()->isEnabled());

    // Refused: the message reaches the status bar, nothing else changes.
    QTest::mouseClick(w.stop_button(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(w.status_text().contains("deja: session aaaa0001 is already stopped"),
                             kWaitMs);
    QVERIFY(w.stop_button()->isEnabled());

    QByteArray stopped = "[" + session_json("aaaa0001", nullptr, 0, 3) + "," +
                         session_json("bbbb0002", "aaaa0001", 2, 1) + "]";
    stopped.replace(R"("id":"aaaa0001","name":"n-aaaa0001","state":"recording")",
                    R"("id":"aaaa0001","name":"n-aaaa0001","state":"stopped")");
    fake.set_stop(stopped);
    QTest::mouseClick(w.stop_button(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(
        w.session_tree()->model()->index(0, SessionTreeModel::kState).data().toString(),
        QStringLiteral("stopped"), kWaitMs);
    QVERIFY(called(fake, "stop aaaa0001"));
    QVERIFY(!w.stop_button()->isEnabled());
    QCOMPARE(w.current_session(), QStringLiteral("aaaa0001"));
    QVERIFY(w.revive_button()->isEnabled());  // its checkpoints stay, and can be revived
  }

  void ctrl_f_goes_to_the_search_box() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    w.timeline_widget()->setFocus();
    QTest::keyClick(&w, Qt::Key_F, Qt::ControlModifier);
    QVERIFY(qobject_cast<QLineEdit*>(QApplication::focusWidget()));
    QVERIFY(w.search_panel()->isAncestorOf(QApplication::focusWidget()));
  }

  void closing_the_window_stops_its_commands() {
    FakeDeja fake;
    standard_store(fake);
    fake.set_delay(30);
    {
      BrowserWindow w(fake.program(), fake.store());
      w.show();
      QTRY_VERIFY_WITH_TIMEOUT(called(fake, "sessions --json"), kWaitMs);
    }  // its `deja sessions` is still sleeping: closing kills it rather than waiting
    // Killed: gone, and it never got to the end of its delay.
    for (qint64 pid : fake.pids())
      QVERIFY2(::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH,
               qPrintable(QStringLiteral("command %1 still runs").arg(pid)));
    QVERIFY2(fake.waited().isEmpty(), qPrintable(fake.waited().join(", ")));
    QTest::qWait(100);  // no late callback into the closed window
  }

  void deja_ui_quits_cleanly_on_sigterm() {
    // The program itself: SIGTERM (or Ctrl+C) quits the event loop so the window's
    // destructors run; its folders of fetched frames do not outlive it.
    FakeDeja fake;
    standard_store(fake);
    fake.set_frame(png(16, 10));
    QTemporaryDir tmp;
    QProcess ui;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("TMPDIR", tmp.path());
    env.insert("QT_QPA_PLATFORM", "offscreen");
    ui.setProcessEnvironment(env);
    ui.start(DEJA_UI_BIN, {"--deja", fake.program(), "--store", fake.store()});
    QVERIFY(ui.waitForStarted());
    QTRY_VERIFY_WITH_TIMEOUT(called(fake, "frame aaaa0001@2.000"), kWaitMs);
    auto frame_dirs = [&] {
      return QDir(tmp.path()).entryList({"deja-ui-*"}, QDir::Dirs | QDir::NoDotAndDotDot).size();
    };
    QVERIFY(frame_dirs() >= 1);  // the frame's, and the thumbnail strip's
    ui.terminate();
    QVERIFY(ui.waitForFinished(kWaitMs));
    QCOMPARE(ui.exitStatus(), QProcess::NormalExit);
    QCOMPARE(ui.exitCode(), 0);
    QCOMPARE(frame_dirs(), 0);
  }

  void unreadable_output_and_missing_program_are_reported() {
    FakeDeja fake;
    fake.set_sessions("deja: this is not JSON");
    BrowserWindow garbled(fake.program(), fake.store());
    QTRY_VERIFY_WITH_TIMEOUT(garbled.status_text().contains("unreadable JSON"), kWaitMs);
    QCOMPARE(garbled.session_tree()->model()->rowCount(), 0);

    BrowserWindow missing(QStringLiteral("/nonexistent/deja"), fake.store());
    QTRY_VERIFY_WITH_TIMEOUT(missing.status_text().contains("cannot run deja sessions"), kWaitMs);
  }

  void checkpoints_of_a_recording_session_are_followed() {
    FakeDeja fake;
    standard_store(fake);
    BrowserWindow w(fake.program(), fake.store());
    w.show();
    QTRY_COMPARE_WITH_TIMEOUT(w.details()->reference(), QStringLiteral("aaaa0001:3"), kWaitMs);
    auto loads = [&] { return fake.calls().count("checkpoints aaaa0001 --json"); };
    const int first_loads = loads();

    // While the catalog's count stays the same, the list is not read again.
    QSignalSpy refreshed(w.loader(), &CatalogLoader::refreshed);
    w.loader()->refresh();
    QVERIFY(refreshed.wait(kWaitMs));
    QCOMPARE(loads(), first_loads);

    // The session keeps recording: the count grows, the next refresh appends, and the cursor,
    // which was on the newest checkpoint, moves to the new newest.
    // (The list first, as the catalog commits a checkpoint before counting it.)
    fake.set_checkpoints("aaaa0001", checkpoints_json({{1, 0.5}, {2, 1.0}, {3, 2.0}, {6, 3.0}}));
    fake.set_sessions("[" + session_json("aaaa0001", nullptr, 0, 4) + "," +
                      session_json("bbbb0002", "aaaa0001", 2, 1) + "]");
    w.loader()->refresh();
    QTRY_COMPARE_WITH_TIMEOUT(w.details()->reference(), QStringLiteral("aaaa0001:6"), kWaitMs);
    QCOMPARE(w.timeline_widget()->time(), 3.0);
    QCOMPARE(loads(), first_loads + 1);
    QVERIFY(w.timeline().check_consistency().empty());
  }
};

QTEST_MAIN(WindowTest)
#include "window_test.moc"
