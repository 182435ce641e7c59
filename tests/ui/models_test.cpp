// The JSON parsers against fixed `deja --json` output (shaped as cli/cmd_session.cpp and
// cli/cmd_checkpoint.cpp print it), the Qt adapters under QAbstractItemModelTester with a
// consistency check after every operation, and the timeline widget driven by its model.
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QWheelEvent>

#include "db/Catalog.h"
#include "ui/Activity.h"

#include "ui/CheckpointModel.h"
#include "ui/DejaJson.h"
#include "ui/PlaybackBar.h"
#include "ui/SessionTreeModel.h"
#include "ui/Timeline.h"
#include "ui/TimelineWidget.h"

using namespace deja::ui;

namespace {

#define CHECK_CONSISTENT(timeline)                                                   \
  do {                                                                               \
    auto problems_ = (timeline).check_consistency();                                 \
    QVERIFY2(problems_.empty(), problems_.empty() ? "" : problems_.front().c_str()); \
  } while (0)

// Two recordings, a branch of the first and a branch of that branch; extra fields
// (command, exit_status) are ignored as the contract allows it to grow.
const QByteArray kSessions = R"([
 {"id":"5632418c","name":"sleep","state":"recording","started":"2026-11-21T23:39:59.988Z",
  "parent":null,"parent_crid":null,"checkpoints":3,"command":["sleep","600"],"exit_status":null},
 {"id":"77aa0001","name":"editor","state":"stopped","started":"2026-11-21T23:41:00.000Z",
  "parent":null,"parent_crid":null,"checkpoints":0,"command":["vi"],"exit_status":0},
 {"id":"b1000001","name":"sleep-branch","state":"recording","started":"2026-11-21T23:45:00.000Z",
  "parent":"5632418c","parent_crid":2,"checkpoints":1,"command":["sleep","600"],"exit_status":null},
 {"id":"b2000002","name":"deeper","state":"stopped","started":"2026-11-21T23:46:00.000Z",
  "parent":"b1000001","parent_crid":4,"checkpoints":0,"command":["sleep","600"],"exit_status":1}
])";

QByteArray checkpoint_json(int crid, double t) {
  return QStringLiteral(
             R"({"crid":%1,"t":%2,"time":"2026-11-21T23:40:00.000Z","fsid":%3,"snapshot":"/s/%1",)"
             R"("image":null,"image_bytes":4096,"pages_written":12,"downtime_ms":1.25,)"
             R"("downtime_parts":{"freeze":0.17,"snapshot":0.99,"thaw":0.09}})")
      .arg(crid)
      .arg(t)
      .arg(260 + crid)
      .toUtf8();
}

QByteArray checkpoints_json(std::initializer_list<std::pair<int, double>> list) {
  QByteArrayList items;
  for (auto [crid, t] : list) items << checkpoint_json(crid, t);
  return "[" + items.join(',') + "]";
}

std::vector<Checkpoint> checkpoints(std::initializer_list<std::pair<int, double>> list) {
  auto parsed = parse_checkpoints(checkpoints_json(list));
  return parsed.value;
}

void load_sessions(Timeline& t, const QByteArray& json) {
  auto parsed = parse_sessions(json);
  QVERIFY2(parsed.ok(), qPrintable(parsed.error));
  auto refused = t.set_sessions(parsed.value);
  QVERIFY2(!refused, refused ? refused->c_str() : "");
}

// Session 5632418c's checkpoints at 1, 2 and 4 s on a widget whose axis is 400 px from
// x = 12, 0 to 4.2 s, shown.
struct FourSecondWidget {
  Timeline t;
  CheckpointModel model{t};
  TimelineWidget w{model};
  FourSecondWidget() {
    load_sessions(t, kSessions);
    if (t.set_checkpoints("5632418c", checkpoints({{1, 1.0}, {2, 2.0}, {3, 4.0}})))
      qFatal("checkpoints refused");
    model.set_session(QStringLiteral("5632418c"));
    w.resize(424, 64);
    w.show();
  }
};

}  // namespace

class ModelsTest : public QObject {
  Q_OBJECT
 private slots:
  void parses_sessions_with_branches() {
    auto parsed = parse_sessions(kSessions);
    QVERIFY2(parsed.ok(), qPrintable(parsed.error));
    QCOMPARE(parsed.value.size(), size_t(4));
    const SessionInfo& s = parsed.value[0];
    QCOMPARE(s.id, std::string("5632418c"));
    QCOMPARE(s.name, std::string("sleep"));
    QCOMPARE(s.state, std::string("recording"));
    QCOMPARE(s.started, std::string("2026-11-21T23:39:59.988Z"));
    QVERIFY(!s.parent && !s.parent_crid);
    QCOMPARE(s.checkpoint_count, int64_t(3));
    QCOMPARE(parsed.value[2].parent, std::optional<std::string>("5632418c"));
    QCOMPARE(parsed.value[2].parent_crid, std::optional<uint64_t>(2));
  }

  void parses_checkpoints_with_downtime_parts() {
    auto parsed = parse_checkpoints(checkpoints_json({{1, 0.0089}, {2, 0.516}}));
    QVERIFY2(parsed.ok(), qPrintable(parsed.error));
    QCOMPARE(parsed.value.size(), size_t(2));
    const Checkpoint& c = parsed.value[1];
    QCOMPARE(c.crid, uint64_t(2));
    QCOMPARE(c.t, 0.516);
    QCOMPARE(c.fsid, uint64_t(262));
    QCOMPARE(c.image_bytes, int64_t(4096));
    QCOMPARE(c.pages_written, int64_t(12));
    QCOMPARE(c.downtime_ms, 1.25);
    QCOMPARE(c.downtime_parts.size(), size_t(3));
    QCOMPARE(c.downtime_parts[0], (std::pair<std::string, double>("freeze", 0.17)));
    QCOMPARE(downtime_parts_text(c),
             QStringLiteral("freeze 0.170 ms, snapshot 0.990 ms, thaw 0.090 ms"));

    // Parts come back in the order a checkpoint runs them, unknown ones last.
    QByteArray more = checkpoints_json({{1, 0.5}})
                          .replace(R"("freeze":0.17)",
                                   R"("zeta":0.01,"freeze":0.17,"capture":2.25,"alpha":0.02)");
    auto ordered = parse_checkpoints(more);
    QVERIFY2(ordered.ok(), qPrintable(ordered.error));
    std::vector<std::string> names;
    for (const auto& [name, ms] : ordered.value[0].downtime_parts) names.push_back(name);
    QCOMPARE(names,
             (std::vector<std::string>{"freeze", "capture", "snapshot", "thaw", "alpha", "zeta"}));
  }

  void parses_search_hits() {
    auto parsed = parse_search_hits(
        R"([{"session":"5632418c","t":12.5,"time":"2026-11-21T23:40:12.488Z","text":"hello world",
             "x":10,"y":20,"w":300,"h":16}])");
    QVERIFY2(parsed.ok(), qPrintable(parsed.error));
    QCOMPARE(parsed.value.size(), size_t(1));
    QCOMPARE(parsed.value[0].session, QStringLiteral("5632418c"));
    QCOMPARE(parsed.value[0].t, 12.5);
    QCOMPARE(parsed.value[0].text, QStringLiteral("hello world"));
    QCOMPARE(parsed.value[0].box, QRect(10, 20, 300, 16));
  }

  void bad_json_is_an_error_naming_what_is_wrong_data() {
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not json") << QByteArray("deja: oops") << "unreadable JSON";
    QTest::newRow("not an array") << QByteArray(R"({"id":"x"})") << "not an array";
    QTest::newRow("element not an object") << QByteArray("[1]") << "session 0 is not an object";
    QTest::newRow("missing id")
        << QByteArray(
               R"([{"name":"n","state":"stopped","started":"s","parent":null,"parent_crid":null,"checkpoints":0}])")
        << "session 0 has no field \"id\"";
    QTest::newRow("count is text")
        << QByteArray(
               R"([{"id":"a","name":"n","state":"stopped","started":"s","parent":null,"parent_crid":null,"checkpoints":"3"}])")
        << "\"checkpoints\" holding a number";
    QTest::newRow("negative parent crid")
        << QByteArray(
               R"([{"id":"a","name":"n","state":"stopped","started":"s","parent":"p","parent_crid":-1,"checkpoints":0}])")
        << "\"parent_crid\" holding a whole non-negative";
  }
  void bad_json_is_an_error_naming_what_is_wrong() {
    QFETCH(QByteArray, json);
    QFETCH(QString, expected);
    auto parsed = parse_sessions(json);
    QVERIFY(!parsed.ok());
    QVERIFY(parsed.value.empty());
    QVERIFY2(parsed.error.contains(expected), qPrintable(parsed.error));
  }

  void bad_checkpoint_fields_are_errors() {
    QByteArray fractional_crid = checkpoints_json({{1, 0.5}}).replace("\"crid\":1", "\"crid\":1.5");
    QVERIFY(parse_checkpoints(fractional_crid).error.contains("crid"));
    QByteArray bad_part = checkpoints_json({{1, 0.5}}).replace("\"thaw\":0.09", "\"thaw\":\"x\"");
    QVERIFY(parse_checkpoints(bad_part).error.contains("thaw"));
    QByteArray no_parts = checkpoints_json({{1, 0.5}}).replace("\"downtime_parts\"", "\"other\"");
    QVERIFY(parse_checkpoints(no_parts).error.contains("downtime_parts"));
  }

  void session_tree_shows_branches_under_their_parents() {
    Timeline t;
    SessionTreeModel model(t);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    load_sessions(t, kSessions);
    CHECK_CONSISTENT(t);

    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.index(0, SessionTreeModel::kId).data().toString(), QStringLiteral("5632418c"));
    QCOMPARE(model.index(1, SessionTreeModel::kName).data().toString(), QStringLiteral("editor"));
    QModelIndex rec = model.index(0, 0);
    QCOMPARE(model.rowCount(rec), 1);
    QModelIndex branch = model.index(0, 0, rec);
    QCOMPARE(branch.data().toString(), QStringLiteral("b1000001"));
    QCOMPARE(model.index(0, SessionTreeModel::kBranchedFrom, rec).data().toString(),
             QStringLiteral("5632418c:2"));
    QCOMPARE(model.parent(branch), rec);
    QModelIndex deeper = model.index(0, 0, branch);
    QCOMPARE(deeper.data(SessionTreeModel::kSessionIdRole).toString(), QStringLiteral("b2000002"));
    QCOMPARE(model.parent(deeper), branch);
    QCOMPARE(model.rowCount(deeper), 0);
    QCOMPARE(model.index_of_session(QStringLiteral("b2000002")), deeper);
    QVERIFY(!model.index_of_session(QStringLiteral("nope")).isValid());
    QCOMPARE(model.index(0, SessionTreeModel::kCheckpoints).data().toLongLong(), 3);
  }

  void session_tree_updates_in_place_or_resets() {
    Timeline t;
    SessionTreeModel model(t);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    load_sessions(t, kSessions);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);

    // The recording stops: its row changes in place.
    QByteArray stopped = kSessions;
    stopped.replace(R"("name":"sleep","state":"recording")", R"("name":"sleep","state":"stopped")");
    load_sessions(t, stopped);
    CHECK_CONSISTENT(t);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(reset.count(), 0);
    QModelIndex first = changed.at(0).at(0).value<QModelIndex>();
    QCOMPARE(first, model.index(0, 0));
    QCOMPARE(model.index(0, SessionTreeModel::kState).data().toString(), QStringLiteral("stopped"));

    // A new branch of the editor session: the tree resets and shows it.
    QByteArray more = stopped;
    more.chop(1);
    more += R"(,{"id":"c3000003","name":"ed2","state":"recording","started":"x","parent":"77aa0001",
               "parent_crid":9,"checkpoints":0}])";
    load_sessions(t, more);
    CHECK_CONSISTENT(t);
    QCOMPARE(reset.count(), 1);
    QCOMPARE(model.rowCount(model.index(1, 0)), 1);
    QCOMPARE(model.index(0, 0, model.index(1, 0)).data().toString(), QStringLiteral("c3000003"));

    // A refused list (unknown parent) changes nothing and signals nothing.
    QByteArray orphan = R"([{"id":"z","name":"z","state":"stopped","started":"x","parent":"gone",
                             "parent_crid":1,"checkpoints":0}])";
    auto parsed = parse_sessions(orphan);
    QVERIFY(parsed.ok());
    QVERIFY(t.set_sessions(parsed.value));
    CHECK_CONSISTENT(t);
    QCOMPARE(reset.count(), 1);
    QCOMPARE(model.rowCount(), 2);
  }

  void checkpoint_model_follows_one_session() {
    Timeline t;
    CheckpointModel model(t);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    load_sessions(t, kSessions);
    QVERIFY(!t.set_checkpoints("5632418c", checkpoints({{1, 0.01}, {2, 0.5}, {3, 1.0}})));
    QVERIFY(!t.set_checkpoints("b1000001", checkpoints({{4, 0.2}})));
    CHECK_CONSISTENT(t);
    QCOMPARE(model.rowCount(), 0);  // no session chosen yet

    model.set_session(QStringLiteral("5632418c"));
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.columnCount(), int(CheckpointModel::kColumnCount));
    QCOMPARE(model.index(1, CheckpointModel::kCrid).data().toULongLong(), 2ull);
    QCOMPARE(model.index(1, CheckpointModel::kFsid).data().toULongLong(), 262ull);
    QCOMPARE(model.index(1, CheckpointModel::kT).data().toString(), QStringLiteral("0.500"));
    QCOMPARE(model.index(2, CheckpointModel::kTime).data(CheckpointModel::kSecondsRole).toDouble(),
             1.0);
    QCOMPARE(model.index(0, CheckpointModel::kDowntime).data().toString(), QStringLiteral("1.25"));
    // b1000001 was revived from CRID 2 of this session.
    QCOMPARE(model.index(1, 0).data(CheckpointModel::kBranchesRole).toStringList(),
             QStringList{"b1000001"});
    QVERIFY(model.index(0, 0).data(CheckpointModel::kBranchesRole).toStringList().isEmpty());

    // New checkpoints of the chosen session arrive as inserted rows.
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    QVERIFY(!t.set_checkpoints("5632418c",
                               checkpoints({{1, 0.01}, {2, 0.5}, {3, 1.0}, {5, 1.5}, {6, 2.0}})));
    CHECK_CONSISTENT(t);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(inserted.at(0).at(1).toInt(), 3);
    QCOMPARE(inserted.at(0).at(2).toInt(), 4);
    QCOMPARE(model.rowCount(), 5);

    // Another session's checkpoints do not touch this view.
    QVERIFY(!t.set_checkpoints("b1000001", checkpoints({{4, 0.2}, {7, 0.4}})));
    CHECK_CONSISTENT(t);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(reset.count(), 0);

    // Thinned by retention: a reset.
    QVERIFY(!t.set_checkpoints("5632418c", checkpoints({{1, 0.01}, {6, 2.0}})));
    CHECK_CONSISTENT(t);
    QCOMPARE(reset.count(), 1);
    QCOMPARE(model.rowCount(), 2);

    // Sessions renumbered by a tree reset: the model finds its session again by id.
    QByteArray reordered = R"([
      {"id":"77aa0001","name":"editor","state":"stopped","started":"x","parent":null,
       "parent_crid":null,"checkpoints":0},
      {"id":"5632418c","name":"sleep","state":"stopped","started":"x","parent":null,
       "parent_crid":null,"checkpoints":2}])";
    load_sessions(t, reordered);
    CHECK_CONSISTENT(t);
    QCOMPARE(model.session_index(), size_t(1));
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.index(1, CheckpointModel::kCrid).data().toULongLong(), 6ull);

    // Its session vanishes: the view empties.
    load_sessions(t, R"([{"id":"77aa0001","name":"editor","state":"stopped","started":"x",
                          "parent":null,"parent_crid":null,"checkpoints":0}])");
    CHECK_CONSISTENT(t);
    QCOMPARE(model.session_index(), Timeline::npos);
    QCOMPARE(model.rowCount(), 0);
  }

  void timeline_widget_draws_ticks_and_scrubs() {
    Timeline t;
    CheckpointModel model(t);
    load_sessions(t, kSessions);
    QVERIFY(!t.set_checkpoints("5632418c", checkpoints({{1, 1.0}, {2, 2.0}, {3, 4.0}})));
    model.set_session(QStringLiteral("5632418c"));
    TimelineWidget w(model);
    w.resize(424, 64);  // an axis of 400 px from x = 12
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QCOMPARE(w.tick_times(), (std::vector<double>{1.0, 2.0, 4.0}));
    QCOMPARE(w.branch_times(), (std::vector<double>{2.0}));  // CRID 2 has branch b1000001
    QCOMPARE(w.axis_end(), 4.2);
    QSignalSpy scrubbed(&w, &TimelineWidget::time_scrubbed);

    // The arrow keys step between checkpoints.
    w.set_time(2.5);
    QTest::keyClick(&w, Qt::Key_Left);
    QCOMPARE(w.time(), 2.0);
    QTest::keyClick(&w, Qt::Key_Left);
    QCOMPARE(w.time(), 1.0);
    QTest::keyClick(&w, Qt::Key_Left);  // nothing before the first: stays
    QCOMPARE(w.time(), 1.0);
    QTest::keyClick(&w, Qt::Key_Right);
    QCOMPARE(w.time(), 2.0);
    QTest::keyClick(&w, Qt::Key_End);
    QCOMPARE(w.time(), 4.0);
    QCOMPARE(scrubbed.count(), 4);
    QCOMPARE(scrubbed.last().at(0).toDouble(), 4.0);

    // A click maps x to time along the axis: the middle is half of 4.2 s.
    QTest::mouseClick(&w, Qt::LeftButton, {}, QPoint(12 + 200, 30));
    QVERIFY(qAbs(w.time() - 2.1) < 0.02);
    QTest::mouseClick(&w, Qt::LeftButton, {}, QPoint(1000, 30));  // past the end: clamped
    QCOMPARE(w.time(), 4.2);

    // New checkpoints extend the ticks.
    QVERIFY(!t.set_checkpoints("5632418c", checkpoints({{1, 1.0}, {2, 2.0}, {3, 4.0}, {4, 9.0}})));
    QCOMPARE(w.tick_times().size(), size_t(4));
    QCOMPARE(w.axis_end(), 9.0 * 1.05);

    // A time past the last checkpoint (a search hit on the recorded screen) stretches the
    // axis to show the cursor; another session starts afresh.
    w.set_time(20.0);
    QCOMPARE(w.axis_end(), 20.0);
    QCOMPARE(w.visible_range().second, 20.0);
    model.set_session(QStringLiteral("77aa0001"));
    QCOMPARE(w.axis_end(), 1.0);
    CHECK_CONSISTENT(t);
  }

  void timeline_widget_zooms_and_pans_with_the_wheel() {
    Timeline t;
    CheckpointModel model(t);
    load_sessions(t, kSessions);
    QVERIFY(!t.set_checkpoints("5632418c", checkpoints({{1, 10}, {2, 50}, {3, 100}})));
    model.set_session(QStringLiteral("5632418c"));
    TimelineWidget w(model);
    w.resize(424, 64);  // axis from x = 12 to 412
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QCOMPARE(w.visible_range(), (std::pair<double, double>(0, 105)));

    auto wheel = [&](double x, QPoint angle, Qt::KeyboardModifiers mods = {}) {
      QWheelEvent e(QPointF(x, 30), w.mapToGlobal(QPointF(x, 30)), QPoint(), angle, Qt::NoButton,
                    mods, Qt::NoScrollPhase, false);
      QApplication::sendEvent(&w, &e);
    };
    // Two notches in with the pointer at a quarter of the axis: the time there stays put.
    const double quarter_x = 12 + 100;
    wheel(quarter_x, QPoint(0, 240));
    auto [from, to] = w.visible_range();
    QVERIFY(qAbs((to - from) - 105 / (1.25 * 1.25)) < 1e-6);
    QVERIFY(qAbs(from + 0.25 * (to - from) - 26.25) < 1e-6);
    // A click now maps into the zoomed range.
    QTest::mouseClick(&w, Qt::LeftButton, {}, QPoint(int(quarter_x), 30));
    QVERIFY(qAbs(w.time() - 26.25) < 0.2);

    // Shift+wheel pans right by a tenth of the view per notch, without leaving the axis.
    const double span = to - from;
    wheel(quarter_x, QPoint(0, -120), Qt::ShiftModifier);
    QVERIFY(qAbs(w.visible_range().first - (from + span * 0.1)) < 1e-6);
    for (int i = 0; i < 50; ++i) wheel(quarter_x, QPoint(0, -120), Qt::ShiftModifier);
    QVERIFY(qAbs(w.visible_range().second - 105) < 1e-6);

    // Moving the cursor out of view brings the view along.
    QTest::keyClick(&w, Qt::Key_Home);
    QCOMPARE(w.time(), 0.0);
    QCOMPARE(w.visible_range().first, 0.0);

    // New checkpoints keep the zoom; zooming all the way out shows the whole axis again.
    QVERIFY(!t.set_checkpoints("5632418c", checkpoints({{1, 10}, {2, 50}, {3, 100}, {4, 120}})));
    QVERIFY(qAbs((w.visible_range().second - w.visible_range().first) - span) < 1e-6);
    for (int i = 0; i < 10; ++i) wheel(quarter_x, QPoint(0, -120));
    QCOMPARE(w.visible_range(), (std::pair<double, double>(0, 126)));

    // Zooming in as far as it goes stops at the shortest span.
    for (int i = 0; i < 100; ++i) wheel(quarter_x, QPoint(0, 120));
    QVERIFY(qAbs((w.visible_range().second - w.visible_range().first) - TimelineWidget::kMinSpan) <
            1e-9);
    CHECK_CONSISTENT(t);
  }

  void timeline_widget_plots_activity_and_search_marks() {
    FourSecondWidget f;
    TimelineWidget& w = f.w;
    CheckpointModel& model = f.model;
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    // Busy in second 3 only; a search hit at 0.5 s.
    w.set_activity({0, 0, 0, 5});
    w.set_marks({0.5});
    const QImage image = w.grab().toImage();
    const QColor base = w.palette().color(QPalette::Base);
    auto column_is_plain = [&](double seconds, int from_y, int to_y) {
      const int x = 12 + int(seconds / 4.2 * 400);
      for (int y = from_y; y < to_y; ++y)
        if (image.pixelColor(x, y) != base) return false;
      return true;
    };
    QVERIFY(!column_is_plain(3.5, 20, 40));  // the plot, above the axis line
    QVERIFY(column_is_plain(1.5, 0, 40));    // a still second: nothing (no tick there)
    QVERIFY(!column_is_plain(0.5, 34, 42));  // the search hit's mark
    QCOMPARE(w.activity().size(), size_t(4));
    // Another session forgets both.
    model.set_session(QStringLiteral("77aa0001"));
    QVERIFY(w.activity().empty());
    QVERIFY(w.marks().empty());
  }

  void timeline_widget_hatches_recording_gaps_and_names_them() {
    FourSecondWidget f;
    TimelineWidget& w = f.w;
    CheckpointModel& model = f.model;
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    // Paused from 2.5 to 3.5 s; without a recorder from 4.05 s on, still.
    w.set_gaps({{2.5, 3.5, "paused"}, {4.05, std::nullopt, "unrecorded"}});
    const QImage image = w.grab().toImage();
    const QColor base = w.palette().color(QPalette::Base);
    auto x_at = [](double seconds) { return 12 + int(seconds / 4.2 * 400); };
    auto hatched = [&](double seconds) {
      int drawn = 0;
      for (int y = 10; y < 34; ++y) drawn += image.pixelColor(x_at(seconds), y) != base;
      return drawn;
    };
    QVERIFY(hatched(3.0) > 0);
    QVERIFY(hatched(4.12) > 0);  // the gap going on reaches the axis end
    QCOMPARE(hatched(1.5), 0);
    QVERIFY(w.tooltip_at(x_at(3.0)).contains(QStringLiteral("paused")));
    QVERIFY(w.tooltip_at(x_at(4.12)).contains(QStringLiteral("now")));
    QVERIFY(w.tooltip_at(x_at(1.5)).isEmpty());
    QVERIFY(w.tooltip_at(x_at(2.0)).startsWith(QStringLiteral("CRID 2")));  // ticks first
    model.set_session(QStringLiteral("77aa0001"));
    QVERIFY(w.gaps().empty());
  }

  void recording_gaps_are_read_from_the_catalog() {
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("catalog.db")).toStdString();
    {
      deja::db::Catalog c(path);
      deja::db::SessionRow s;
      s.id = "s1";
      s.name = "n";
      s.state = "recording";
      s.started = 1000;
      s.command = "[]";
      s.home = "/";
      c.add_session(s);
      c.add_gap({"s1", 1010, 1012.5, "paused"});
      c.add_gap({"s1", 1020, std::nullopt, "unrecorded"});
    }
    const std::vector<RecordingGap> gaps = recording_gaps(path, "s1", 1000);
    QCOMPARE(gaps.size(), size_t(2));
    QCOMPARE(gaps[0], (RecordingGap{10, 12.5, "paused"}));
    QCOMPARE(gaps[1], (RecordingGap{20, std::nullopt, "unrecorded"}));
    QVERIFY(recording_gaps(path, "other", 1000).empty());
  }

  void playback_steps_plays_and_stops_at_the_end() {
    PlaybackBar bar;
    QSignalSpy moved(&bar, &PlaybackBar::moved);
    bar.set_position(1.0, 2.0);
    QTest::mouseClick(bar.forward_button(), Qt::LeftButton);
    QCOMPARE(moved.last().at(0).toDouble(), 1.0 + PlaybackBar::kFrameSeconds);
    for (int i = 0; i < 10; ++i) QTest::mouseClick(bar.back_button(), Qt::LeftButton);
    QCOMPARE(moved.last().at(0).toDouble(), 0.0);  // not before the start
    // With the recorded frames known, a step goes from frame to frame; past the last known
    // one (the segment being recorded) by the poll period again.
    bar.set_frame_times({0.5, 0.9, 1.25});
    bar.step(1);
    QCOMPARE(moved.last().at(0).toDouble(), 0.5);
    bar.step(1);
    QCOMPARE(moved.last().at(0).toDouble(), 0.9);
    bar.step(1);
    QCOMPARE(moved.last().at(0).toDouble(), 1.25);
    bar.step(1);
    QCOMPARE(moved.last().at(0).toDouble(), 1.25 + PlaybackBar::kFrameSeconds);
    bar.step(-1);
    QCOMPARE(moved.last().at(0).toDouble(), 1.25);
    bar.step(-1);
    QCOMPARE(moved.last().at(0).toDouble(), 0.9);
    bar.set_position(1.0, 2.0);  // between frames: back goes before the frame on screen (0.9)
    bar.step(-1);
    QCOMPARE(moved.last().at(0).toDouble(), 0.5);
    bar.step(-1);
    QCOMPARE(moved.last().at(0).toDouble(), 0.0);
    bar.set_frame_times({});
    bar.set_speed(32);
    QCOMPARE(bar.speed(), 32);
    bar.set_speed(3);  // not offered: unchanged
    QCOMPARE(bar.speed(), 32);
    const int before_play = moved.count();
    QTest::mouseClick(bar.play_button(), Qt::LeftButton);
    QVERIFY(bar.playing());
    // At 32x the two seconds pass quickly; it stops by itself on the end.
    QTRY_VERIFY(!bar.playing());
    QCOMPARE(moved.last().at(0).toDouble(), 2.0);
    for (int i = before_play + 1; i < moved.count(); ++i)  // never backwards while playing
      QVERIFY(moved.at(i).at(0).toDouble() >= moved.at(i - 1).at(0).toDouble());
  }
};

QTEST_MAIN(ModelsTest)
#include "models_test.moc"
