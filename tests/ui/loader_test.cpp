// The loader against the real deja binary on a real store (btrfs loop image, real sessions):
// what `deja sessions/checkpoints --json` print today must land in the timeline intact, and
// a failing command must come back as its one-line message. Needs root.
#include <QProcess>
#include <QSignalSpy>
#include <QTest>

#include "RealStore.h"
#include "ui/Activity.h"
#include "ui/CatalogLoader.h"
#include "ui/CheckpointModel.h"
#include "ui/DejaClient.h"
#include "ui/SessionTreeModel.h"
#include "ui/Timeline.h"

using namespace deja::ui;
using deja::ui::test::RealStore;

namespace {

constexpr int kWaitMs = 60000;

#define CHECK_CONSISTENT(timeline)                                                   \
  do {                                                                               \
    auto problems_ = (timeline).check_consistency();                                 \
    QVERIFY2(problems_.empty(), problems_.empty() ? "" : problems_.front().c_str()); \
  } while (0)

// Runs one refresh to its end; returns whether it reported success.
bool refresh(CatalogLoader& loader) {
  QSignalSpy done(&loader, &CatalogLoader::refreshed);
  loader.refresh();
  if (!done.wait(kWaitMs)) return false;
  return done.at(0).at(0).toBool();
}

CommandResult run(DejaClient& client, const QStringList& args) {
  CommandResult out;
  bool finished = false;
  QObject context;
  client.run(args, &context, [&](const CommandResult& r) {
    out = r;
    finished = true;
  });
  if (!QTest::qWaitFor([&] { return finished; }, kWaitMs)) out.error = "timed out";
  return out;
}

}  // namespace

class LoaderTest : public QObject {
  Q_OBJECT
 private slots:
  void empty_store_loads_as_no_sessions() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    Timeline timeline;
    DejaClient client(store.deja(), store.path());
    CatalogLoader loader(client, timeline);
    QSignalSpy errors(&loader, &CatalogLoader::error);
    QVERIFY(refresh(loader));
    QCOMPARE(errors.count(), 0);
    QCOMPARE(timeline.session_count(), size_t(0));
    CHECK_CONSISTENT(timeline);
  }

  void loads_what_the_real_binary_prints() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const QString a = store.record();
    const QString b = store.record();
    QVERIFY2(!a.isEmpty() && !b.isEmpty(), qPrintable(store.error()));
    std::vector<uint64_t> crids_a;
    for (int i = 0; i < 3; ++i) crids_a.push_back(store.checkpoint(a));
    const quint64 crid_b = store.checkpoint(b);
    QVERIFY2(store.error().isEmpty(), qPrintable(store.error()));

    Timeline timeline;
    DejaClient client(store.deja(), store.path());
    CatalogLoader loader(client, timeline);
    SessionTreeModel tree(timeline);
    CheckpointModel list(timeline);
    QSignalSpy errors(&loader, &CatalogLoader::error);
    QVERIFY(refresh(loader));
    QVERIFY2(errors.isEmpty(), errors.isEmpty() ? "" : qPrintable(errors.at(0).at(0).toString()));
    CHECK_CONSISTENT(timeline);

    QCOMPARE(timeline.session_count(), size_t(2));
    const size_t ia = timeline.find_session(a.toStdString());
    const size_t ib = timeline.find_session(b.toStdString());
    QVERIFY(ia != Timeline::npos && ib != Timeline::npos);
    QCOMPARE(timeline.session(ia).state, std::string("recording"));
    QCOMPARE(timeline.session(ia).name, std::string("sleep"));
    QCOMPARE(timeline.session(ia).checkpoint_count, int64_t(3));
    QVERIFY(!timeline.session(ia).parent);
    QCOMPARE(timeline.roots().size(), size_t(2));

    const auto& cps = timeline.checkpoints(ia);
    QCOMPARE(cps.size(), size_t(3));
    for (size_t i = 0; i < cps.size(); ++i) {
      QCOMPARE(cps[i].crid, crids_a[i]);
      QVERIFY(cps[i].fsid >= 256);  // btrfs subvolume ids of snapshots start at 256
      QVERIFY(cps[i].downtime_ms > 0);
      QVERIFY(cps[i].t >= 0);
      // The recorder names its steps; freeze and thaw bracket every checkpoint, and the parts
      // account for (at most) the whole downtime.
      std::vector<std::string> parts;
      double sum = 0;
      for (const auto& [name, ms] : cps[i].downtime_parts) {
        parts.push_back(name);
        QVERIFY(ms >= 0);
        sum += ms;
      }
      QCOMPARE(parts.front(), std::string("freeze"));
      QCOMPARE(parts.back(), std::string("thaw"));
      QVERIFY2(sum <= cps[i].downtime_ms * 1.01 + 0.01, qPrintable(QString::number(sum)));
    }
    QCOMPARE(timeline.checkpoints(ib).size(), size_t(1));
    QCOMPARE(timeline.checkpoints(ib)[0].crid, uint64_t(crid_b));
    QCOMPARE(tree.index_of_session(a).data().toString(), a);

    // A new checkpoint of a recording session arrives as an appended row.
    list.set_session(a);
    QSignalSpy inserted(&list, &QAbstractItemModel::rowsInserted);
    const quint64 crid4 = store.checkpoint(a);
    QVERIFY2(crid4 > crids_a.back(), qPrintable(store.error()));
    QVERIFY(refresh(loader));
    CHECK_CONSISTENT(timeline);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(list.rowCount(), 4);
    QCOMPARE(list.index(3, CheckpointModel::kCrid).data().toULongLong(), crid4);

    // A stopped session changes in place; its checkpoints stay.
    QSignalSpy changed(&tree, &QAbstractItemModel::dataChanged);
    store.run({QStringLiteral("stop"), b});
    QVERIFY2(store.error().isEmpty(), qPrintable(store.error()));
    QVERIFY(refresh(loader));
    CHECK_CONSISTENT(timeline);
    QCOMPARE(timeline.session(ib).state, std::string("stopped"));
    QVERIFY(changed.count() >= 1);
    QCOMPARE(timeline.checkpoints(ib).size(), size_t(1));
  }

  void failing_commands_come_back_as_one_line() {
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    DejaClient client(store.deja(), store.path());
    for (const QStringList& args :
         {QStringList{"checkpoints", "nosuch00", "--json"},
          QStringList{"frame", "nosuch00@1", "-o", store.path() + "/f.png"},
          QStringList{"search", "anything", "--session", "nosuch00", "--json"}}) {
      CommandResult r = run(client, args);
      QVERIFY2(!r.ok, qPrintable(args.join(' ')));
      QVERIFY2(r.error.startsWith("deja: "), qPrintable(r.error));
      QVERIFY2(!r.error.contains('\n'), qPrintable(r.error));
    }
    QCOMPARE(client.running(), 0);
  }

  void frame_times_come_from_the_catalog_s_frame_rows() {
    // A real catalog made by deja init; a session's segments and frame rows written as the
    // recorder writes them (its own are tested in tests/display), one segment of another
    // session beside them.
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    const QString catalog = store.path() + "/catalog.db";
    const QString sql =
        "INSERT INTO sessions (id, name, state, started, command, home) VALUES "
        "('s1', 'a', 'stopped', 1000, '[]', '/'), ('s2', 'b', 'stopped', 1000, '[]', '/');"
        "INSERT INTO display_segments (id, session, file, start_ms, width, height, state) VALUES "
        "(1, 's1', 'a', 1002000, 8, 8, 'finished'), (2, 's1', 'b', 1000000, 8, 8, 'recovered'),"
        "(3, 's2', 'c', 1000000, 8, 8, 'finished');"
        "INSERT INTO display_frames (segment, pts_ms, key) VALUES (1, 0, 1), (1, 250, 0),"
        "(1, 900, 0), (2, 0, 1), (2, 1500, 0), (3, 100, 1);";
    QCOMPARE(QProcess::execute("sqlite3", {catalog, sql}), 0);
    const std::vector<double> times = recorded_frame_times(catalog.toStdString(), "s1", 1000.0);
    QCOMPARE(times, (std::vector<double>{0.0, 1.5, 2.0, 2.25, 2.9}));
    QCOMPARE(per_second(times), (std::vector<int>{1, 1, 3}));
    QVERIFY(recorded_frame_times(catalog.toStdString(), "none", 1000.0).empty());
    QVERIFY_THROWS_EXCEPTION(std::exception,
                             recorded_frame_times((store.path() + "/missing.db").toStdString(),
                                                  "s1", 1000.0));
  }

  void deja_ui_starts_the_browser_beside_it() {
    // With a Qt platform that does not exist, deja-ui exits at once with Qt's complaint:
    // that message proves `deja ui` replaced itself with deja-ui, without opening a window.
    RealStore store;
    QVERIFY2(store.ready(), qPrintable(store.error()));
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("QT_QPA_PLATFORM", "deja-no-such-platform");
    p.setProcessEnvironment(env);
    p.start(store.deja(), {"--store", store.path(), "ui"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QVERIFY(p.exitCode() != 0 || p.exitStatus() != QProcess::NormalExit);
    QVERIFY2(p.readAllStandardError().contains("deja-no-such-platform"), "deja-ui did not run");

    // No display at all: one line saying so, not Qt's abort.
    env.remove("QT_QPA_PLATFORM");
    env.remove("DISPLAY");
    env.remove("WAYLAND_DISPLAY");
    p.setProcessEnvironment(env);
    p.start(store.deja(), {"--store", store.path(), "ui"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 1);
    const QByteArray no_display = p.readAllStandardError().trimmed();
    QVERIFY2(no_display.startsWith("deja: no display") && !no_display.contains('\n'),
             no_display.constData());

    p.start(store.deja(), {"--store", store.path(), "ui", "extra"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 1);
    const QByteArray err = p.readAllStandardError().trimmed();
    QVERIFY2(err.startsWith("deja: unexpected argument 'extra'") && !err.contains('\n'),
             err.constData());
  }
};

DEJA_REAL_STORE_TEST_MAIN(LoaderTest)
#include "loader_test.moc"
