// The Qt-free timeline model: branch tree, checkpoint lookups, refusals that change nothing,
// and the notifications adapters rely on. check_consistency() runs after every operation.
#include "ui/Timeline.h"

#include <QTest>

using namespace deja::ui;

namespace {

QByteArray joined(const std::vector<std::string>& problems) {
  std::string all;
  for (const auto& p : problems) all += p + "; ";
  return QByteArray::fromStdString(all);
}

#define CHECK_CONSISTENT(timeline)                              \
  do {                                                          \
    auto problems_ = (timeline).check_consistency();            \
    QVERIFY2(problems_.empty(), joined(problems_).constData()); \
  } while (0)

SessionInfo root(const std::string& id) {
  SessionInfo s;
  s.id = id;
  s.name = "name-" + id;
  s.state = "recording";
  s.started = "2026-11-21T23:00:00.000Z";
  return s;
}

SessionInfo branch(const std::string& id, const std::string& parent, uint64_t crid) {
  SessionInfo s = root(id);
  s.parent = parent;
  s.parent_crid = crid;
  return s;
}

Checkpoint at(uint64_t crid, double t) {
  Checkpoint c;
  c.crid = crid;
  c.t = t;
  c.time = "2026-11-21T23:00:00.000Z";
  c.fsid = 256 + crid;
  c.downtime_ms = 1.5;
  c.downtime_parts = {{"freeze", 0.2}, {"snapshot", 1.2}, {"thaw", 0.1}};
  return c;
}

// Everything observable about a timeline, to show that a refused operation changed nothing.
struct Snapshot {
  std::vector<SessionInfo> sessions;
  std::vector<std::vector<Checkpoint>> checkpoints;
  std::vector<bool> loaded;
  std::vector<size_t> roots;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Timeline& t) {
  Snapshot s;
  for (size_t i = 0; i < t.session_count(); ++i) {
    s.sessions.push_back(t.session(i));
    s.checkpoints.push_back(t.checkpoints(i));
    s.loaded.push_back(t.checkpoints_loaded(i));
  }
  s.roots = t.roots();
  return s;
}

// Records notifications and checks the timeline is consistent whenever a change completes.
struct Recorder : TimelineObserver {
  explicit Recorder(Timeline& t) : timeline(t) { t.add_observer(this); }
  ~Recorder() override { timeline.remove_observer(this); }
  void sessions_about_to_reset() override { events.push_back("about_to_reset"); }
  void sessions_reset() override { done("reset"); }
  void session_changed(size_t i) override { done("changed " + std::to_string(i)); }
  void checkpoints_about_to_append(size_t i, size_t first, size_t last) override {
    events.push_back("about_to_append " + std::to_string(i) + " " + std::to_string(first) + "-" +
                     std::to_string(last));
  }
  void checkpoints_appended(size_t i) override { done("appended " + std::to_string(i)); }
  void checkpoints_about_to_reset(size_t i) override {
    events.push_back("about_to_reset_checkpoints " + std::to_string(i));
  }
  void checkpoints_reset(size_t i) override { done("reset_checkpoints " + std::to_string(i)); }
  void done(const std::string& e) {
    events.push_back(e);
    if (!timeline.check_consistency().empty()) inconsistent_after.push_back(e);
  }
  std::vector<std::string> take() { return std::exchange(events, {}); }

  Timeline& timeline;
  std::vector<std::string> events;
  std::vector<std::string> inconsistent_after;
};

using Events = std::vector<std::string>;

}  // namespace

class TimelineTest : public QObject {
  Q_OBJECT
 private slots:
  void empty_timeline_is_consistent() {
    Timeline t;
    CHECK_CONSISTENT(t);
    QCOMPARE(t.session_count(), size_t(0));
    QVERIFY(t.roots().empty());
    QCOMPARE(t.find_session("nope"), Timeline::npos);
  }

  void branch_tree_follows_parent_links() {
    Timeline t;
    // Listed in catalog order: a branch may come before a later root.
    QVERIFY(!t.set_sessions(
        {root("a"), branch("b", "a", 2), root("d"), branch("c", "b", 5), branch("e", "a", 3)}));
    CHECK_CONSISTENT(t);
    const size_t a = t.find_session("a"), b = t.find_session("b"), c = t.find_session("c"),
                 d = t.find_session("d"), e = t.find_session("e");
    QCOMPARE(t.roots(), (std::vector<size_t>{a, d}));
    QCOMPARE(t.children(a), (std::vector<size_t>{b, e}));
    QCOMPARE(t.children(b), (std::vector<size_t>{c}));
    QVERIFY(t.children(c).empty());
    QCOMPARE(t.parent_of(c), b);
    QCOMPARE(t.parent_of(a), Timeline::npos);
    QCOMPARE(t.row_of(d), size_t(1));
    QCOMPARE(t.row_of(e), size_t(1));
    QCOMPARE(t.row_of(c), size_t(0));
    QVERIFY(!t.checkpoints_loaded(a));

    // Which branches came from which checkpoint.
    QCOMPARE(t.branches_from(a, 2), (std::vector<size_t>{b}));
    QCOMPARE(t.branches_from(a, 3), (std::vector<size_t>{e}));
    QVERIFY(t.branches_from(a, 5).empty());  // CRID 5 is b's, and c came from it
    QCOMPARE(t.branches_from(b, 5), (std::vector<size_t>{c}));
    QVERIFY(t.branches_from(d, 2).empty());
  }

  void refused_session_lists_change_nothing() {
    Timeline t;
    QVERIFY(!t.set_sessions({root("a"), branch("b", "a", 1)}));
    QVERIFY(!t.set_checkpoints("a", {at(1, 0.5), at(2, 1.0)}));
    CHECK_CONSISTENT(t);
    const Snapshot before = snapshot(t);
    Recorder rec(t);

    SessionInfo half = root("h");
    half.parent = "a";  // a parent without its checkpoint
    SessionInfo other_half = root("g");
    other_half.parent_crid = 4;
    const std::vector<std::pair<const char*, std::vector<SessionInfo>>> bad = {
        {"repeated id", {root("a"), root("a")}},
        {"unknown parent", {root("a"), branch("b", "zz", 1)}},
        {"parent without crid", {root("a"), half}},
        {"crid without parent", {root("a"), other_half}},
        {"two-session cycle", {branch("x", "y", 1), branch("y", "x", 2)}},
        {"own parent", {root("a"), branch("s", "s", 1)}},
        {"empty id", {root("a"), root("")}},
    };
    for (const auto& [what, sessions] : bad) {
      auto refused = t.set_sessions(sessions);
      QVERIFY2(refused.has_value(), what);
      QVERIFY2(!refused->empty(), what);
      CHECK_CONSISTENT(t);
      QVERIFY2(snapshot(t) == before, what);
    }
    QVERIFY(rec.events.empty());
  }

  void unknown_parent_message_names_both_sessions() {
    Timeline t;
    auto refused = t.set_sessions({branch("b", "zz", 1)});
    QVERIFY(refused);
    QVERIFY(refused->find("b") != std::string::npos);
    QVERIFY(refused->find("zz") != std::string::npos);
    CHECK_CONSISTENT(t);
  }

  void checkpoint_lookups() {
    Timeline t;
    QVERIFY(!t.set_sessions({root("a"), root("empty")}));
    const size_t a = t.find_session("a"), empty = t.find_session("empty");
    QVERIFY(!t.set_checkpoints("a", {at(3, 1.0), at(4, 2.0), at(7, 4.0)}));
    QVERIFY(!t.set_checkpoints("empty", {}));
    CHECK_CONSISTENT(t);
    QVERIFY(t.checkpoints_loaded(empty));

    QCOMPARE(t.checkpoint_at_or_before(a, 0.5), Timeline::npos);
    QCOMPARE(t.checkpoint_at_or_before(a, 1.0), size_t(0));  // exactly at a checkpoint
    QCOMPARE(t.checkpoint_at_or_before(a, 1.999), size_t(0));
    QCOMPARE(t.checkpoint_at_or_before(a, 2.0), size_t(1));
    QCOMPARE(t.checkpoint_at_or_before(a, 3.9), size_t(1));
    QCOMPARE(t.checkpoint_at_or_before(a, 100), size_t(2));
    QCOMPARE(t.checkpoint_at_or_before(empty, 1), Timeline::npos);

    QCOMPARE(t.extent(a), 4.0);
    QCOMPARE(t.extent(empty), 0.0);
    CHECK_CONSISTENT(t);
  }

  void reach_spans_the_session_with_or_without_checkpoints() {
    Timeline t;
    SessionInfo live = root("live"), done = root("done"), old = root("old"), ticks = root("ticks");
    for (SessionInfo* s : {&live, &done, &ticks}) {
      s->span_known = true;
      s->started_unix = 1000;
    }
    done.state = "stopped";
    done.stopped_unix = 1100;
    ticks.stopped_unix = 1002;  // ended before a checkpoint's time (clock skew): never less
    QVERIFY(!t.set_sessions({live, done, old, ticks}));
    QVERIFY(!t.set_checkpoints("old", {at(1, 2), at(2, 7)}));
    QVERIFY(!t.set_checkpoints("ticks", {at(3, 5)}));
    QCOMPARE(t.reach(t.find_session("live"), 1030), 30.0);   // recording: up to now
    QCOMPARE(t.reach(t.find_session("done"), 5000), 100.0);  // stopped: up to its end
    QCOMPARE(t.reach(t.find_session("old"), 5000), 7.0);     // an older deja: its checkpoints
    QCOMPARE(t.reach(t.find_session("ticks"), 5000), 5.0);
    CHECK_CONSISTENT(t);
  }

  void same_time_checkpoints_are_allowed() {
    // Two checkpoints in the same clock tick are legal; CRIDs still order them.
    Timeline t;
    QVERIFY(!t.set_sessions({root("a")}));
    QVERIFY(!t.set_checkpoints("a", {at(1, 1.0), at(2, 1.0)}));
    CHECK_CONSISTENT(t);
    QCOMPARE(t.checkpoint_at_or_before(0, 1.0), size_t(1));
  }

  void refused_checkpoint_lists_change_nothing() {
    Timeline t;
    QVERIFY(!t.set_sessions({root("a"), branch("b", "a", 2)}));
    QVERIFY(!t.set_checkpoints("a", {at(1, 0.5), at(2, 1.0)}));
    QVERIFY(!t.set_checkpoints("b", {at(5, 0.1)}));
    CHECK_CONSISTENT(t);
    const Snapshot before = snapshot(t);
    Recorder rec(t);

    const std::vector<std::tuple<const char*, std::string, std::vector<Checkpoint>>> bad = {
        {"unknown session", "zz", {at(9, 1)}},
        {"CRIDs going down", "a", {at(1, 0.5), at(2, 1.0), at(0, 2.0)}},
        {"repeated CRID", "a", {at(1, 0.5), at(1, 1.0)}},
        {"time going back", "a", {at(1, 0.5), at(2, 1.0), at(3, 0.9)}},
        {"CRID of another session", "a", {at(1, 0.5), at(2, 1.0), at(5, 2.0)}},
        {"CRID of another session, other way", "b", {at(2, 0.1)}},
    };
    for (const auto& [what, session, list] : bad) {
      auto refused = t.set_checkpoints(session, list);
      QVERIFY2(refused.has_value(), what);
      CHECK_CONSISTENT(t);
      QVERIFY2(snapshot(t) == before, what);
    }
    QVERIFY(rec.events.empty());
  }

  void appends_and_resets_are_told_apart() {
    Timeline t;
    QVERIFY(!t.set_sessions({root("a"), root("b")}));
    Recorder rec(t);
    QVERIFY(!t.set_checkpoints("b", {at(1, 0.1), at(2, 0.2)}));
    QCOMPARE(rec.take(), (Events{"about_to_append 1 0-1", "appended 1"}));
    CHECK_CONSISTENT(t);

    // The same list again: nothing to tell.
    QVERIFY(!t.set_checkpoints("b", {at(1, 0.1), at(2, 0.2)}));
    QVERIFY(rec.take().empty());

    QVERIFY(!t.set_checkpoints("b", {at(1, 0.1), at(2, 0.2), at(3, 0.3), at(4, 0.4)}));
    QCOMPARE(rec.take(), (Events{"about_to_append 1 2-3", "appended 1"}));
    CHECK_CONSISTENT(t);

    // Retention thinned the list: not an extension, so a reset.
    QVERIFY(!t.set_checkpoints("b", {at(1, 0.1), at(4, 0.4)}));
    QCOMPARE(rec.take(), (Events{"about_to_reset_checkpoints 1", "reset_checkpoints 1"}));
    QCOMPARE(t.checkpoints(1).size(), size_t(2));
    CHECK_CONSISTENT(t);

    // A changed field in an old checkpoint is also not an extension.
    Checkpoint changed = at(1, 0.1);
    changed.downtime_ms = 9;
    QVERIFY(!t.set_checkpoints("b", {changed, at(4, 0.4), at(6, 0.6)}));
    QCOMPARE(rec.take(), (Events{"about_to_reset_checkpoints 1", "reset_checkpoints 1"}));
    CHECK_CONSISTENT(t);
    QVERIFY(rec.inconsistent_after.empty());
  }

  void session_refresh_keeps_rows_unless_the_tree_changes() {
    Timeline t;
    QVERIFY(!t.set_sessions({root("a"), branch("b", "a", 1)}));
    QVERIFY(!t.set_checkpoints("a", {at(1, 0.5)}));
    QVERIFY(!t.set_checkpoints("b", {at(2, 0.1)}));
    Recorder rec(t);

    // Same sessions and links, one state changed: a field update, not a reset.
    SessionInfo stopped = branch("b", "a", 1);
    stopped.state = "stopped";
    QVERIFY(!t.set_sessions({root("a"), stopped}));
    QCOMPARE(rec.take(), (Events{"changed 1"}));
    QCOMPARE(t.session(1).state, std::string("stopped"));
    CHECK_CONSISTENT(t);

    // Identical list: nothing.
    QVERIFY(!t.set_sessions({root("a"), stopped}));
    QVERIFY(rec.take().empty());

    // A new branch: the tree changes; loaded checkpoints of sessions that stay are kept.
    QVERIFY(!t.set_sessions({root("a"), stopped, branch("c", "b", 2)}));
    QCOMPARE(rec.take(), (Events{"about_to_reset", "reset"}));
    CHECK_CONSISTENT(t);
    QCOMPARE(t.checkpoints(t.find_session("a")).size(), size_t(1));
    QCOMPARE(t.checkpoints(t.find_session("b")).size(), size_t(1));
    QVERIFY(!t.checkpoints_loaded(t.find_session("c")));
    QCOMPARE(t.children(t.find_session("b")), (std::vector<size_t>{t.find_session("c")}));

    // A session disappears with its checkpoints; its CRIDs become free again.
    QVERIFY(!t.set_sessions({root("a")}));
    QCOMPARE(rec.take(), (Events{"about_to_reset", "reset"}));
    CHECK_CONSISTENT(t);
    QVERIFY(!t.set_checkpoints("a", {at(1, 0.5), at(2, 0.7)}));
    CHECK_CONSISTENT(t);

    // A session that comes back starts unloaded rather than with stale checkpoints.
    QVERIFY(!t.set_sessions({root("a"), root("b")}));
    QVERIFY(!t.checkpoints_loaded(t.find_session("b")));
    QVERIFY(t.checkpoints(t.find_session("b")).empty());
    CHECK_CONSISTENT(t);
    QVERIFY(rec.inconsistent_after.empty());
  }

  void reordered_sessions_reset() {
    Timeline t;
    QVERIFY(!t.set_sessions({root("a"), root("b")}));
    Recorder rec(t);
    QVERIFY(!t.set_sessions({root("b"), root("a")}));
    QCOMPARE(rec.take(), (Events{"about_to_reset", "reset"}));
    QCOMPARE(t.session(0).id, std::string("b"));
    CHECK_CONSISTENT(t);
  }

  void removed_observer_hears_nothing() {
    Timeline t;
    Events events;
    {
      Recorder rec(t);
      QVERIFY(!t.set_sessions({root("a")}));
      events = rec.take();
    }
    QCOMPARE(events, (Events{"about_to_reset", "reset"}));
    // The recorder is gone; a change must not call it.
    QVERIFY(!t.set_sessions({root("a"), root("b")}));
    CHECK_CONSISTENT(t);
  }
};

QTEST_APPLESS_MAIN(TimelineTest)
#include "timeline_test.moc"
