// The browser's data model: every session in the store, their branch tree, and each session's
// committed checkpoints. No Qt here, so the rules are tested without a GUI; Qt adapters
// (SessionTreeModel, CheckpointModel) observe it and present it to views.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace deja::ui {

/// One committed checkpoint as `deja checkpoints --json` lists it.
struct Checkpoint {
  uint64_t crid = 0;
  double t = 0;       // seconds since the session started
  std::string time;   // ISO-8601 UTC
  uint64_t fsid = 0;  // btrfs subvolume id of the snapshot
  int64_t image_bytes = 0;
  int64_t pages_written = 0;
  double downtime_ms = 0;
  std::vector<std::pair<std::string, double>> downtime_parts;  // name → ms, in listed order

  bool operator==(const Checkpoint&) const = default;
};

/// One session (a recording, or a branch revived from another session's checkpoint) as
/// `deja sessions --json` lists it.
struct SessionInfo {
  std::string id;
  std::string name;
  std::string state;    // "recording" or "stopped"
  std::string started;  // ISO-8601 UTC
  // Its span in time, from deja builds that list "stopped" (null while it records):
  // without it the timeline reaches only as far as its checkpoints.
  bool span_known = false;
  double started_unix = 0;             // `started` in Unix seconds
  std::optional<double> stopped_unix;  // when it ended, if it did and deja knows
  std::optional<std::string> parent;
  std::optional<uint64_t> parent_crid;
  int64_t checkpoint_count = 0;

  bool operator==(const SessionInfo&) const = default;
};

/// Told about changes before and after they happen, so a Qt adapter can bracket them with
/// begin…/end… calls. A change that is refused notifies nobody.
class TimelineObserver {
 public:
  virtual ~TimelineObserver() = default;
  /// The set of sessions or their parent links change: rows move, adapters reset.
  virtual void sessions_about_to_reset() {}
  virtual void sessions_reset() {}
  /// Same tree, but the fields of session `index` changed (state, name, count).
  virtual void session_changed(size_t /*index*/) {}
  /// New checkpoints [first, last] are appended to session `index`'s list.
  virtual void checkpoints_about_to_append(size_t /*index*/, size_t /*first*/, size_t /*last*/) {}
  virtual void checkpoints_appended(size_t /*index*/) {}
  /// Session `index`'s list is replaced by one that does not just extend it (retention).
  virtual void checkpoints_about_to_reset(size_t /*index*/) {}
  virtual void checkpoints_reset(size_t /*index*/) {}
};

/// Sessions, branches and checkpoints of one store. Every operation either fully succeeds or
/// leaves the timeline unchanged and returns why; check_consistency() states the invariants.
class Timeline {
 public:
  static constexpr size_t npos = static_cast<size_t>(-1);

  /// Replaces the session list. Refused when ids repeat, a parent is unknown, parent and
  /// parent_crid disagree, or the parent links form a cycle. Checkpoints of sessions that
  /// remain are kept; those of sessions that vanished are dropped.
  std::optional<std::string> set_sessions(std::vector<SessionInfo> sessions);

  /// Replaces one session's checkpoints. Refused when the session is unknown, CRIDs are not
  /// strictly increasing, times go backwards, or a CRID belongs to another session.
  std::optional<std::string> set_checkpoints(const std::string& session,
                                             std::vector<Checkpoint> checkpoints);

  size_t session_count() const { return sessions_.size(); }
  const SessionInfo& session(size_t index) const { return sessions_.at(index).info; }
  /// Index of the session with this id, or npos.
  size_t find_session(const std::string& id) const;
  /// Index of the parent session, or npos for a root.
  size_t parent_of(size_t index) const { return sessions_.at(index).parent; }
  /// Sessions without a parent, and the branches of one session, in listing order.
  const std::vector<size_t>& roots() const { return roots_; }
  const std::vector<size_t>& children(size_t index) const { return sessions_.at(index).children; }
  /// Position of `index` among its siblings (in roots() or its parent's children()).
  size_t row_of(size_t index) const;

  /// Whether set_checkpoints has been called for the session since it appeared.
  bool checkpoints_loaded(size_t index) const { return sessions_.at(index).loaded; }
  const std::vector<Checkpoint>& checkpoints(size_t index) const {
    return sessions_.at(index).checkpoints;
  }
  /// The position of the latest checkpoint taken at or before `t`, or npos if none was.
  size_t checkpoint_at_or_before(size_t index, double t) const;
  /// The branches revived from checkpoint `crid` of session `index`, in listing order.
  std::vector<size_t> branches_from(size_t index, uint64_t crid) const;
  /// How far the session's timeline reaches: the time of its last checkpoint, or 0.
  double extent(size_t index) const;
  /// The session's whole time in seconds, checkpoints or not: from its start to its end,
  /// or to `now_unix` while it records; never less than extent().
  double reach(size_t index, double now_unix) const;

  void add_observer(TimelineObserver* observer) { observers_.push_back(observer); }
  void remove_observer(TimelineObserver* observer);

  /// Every invariant, checked from scratch; empty when all hold, else what is broken.
  std::vector<std::string> check_consistency() const;

 private:
  struct Node {
    SessionInfo info;
    size_t parent = npos;
    std::vector<size_t> children;
    bool loaded = false;
    std::vector<Checkpoint> checkpoints;
  };

  template <typename F>
  void notify(F f) {
    for (TimelineObserver* o : observers_) f(*o);
  }
  // Fills in parent indices, child lists and roots from the nodes' parent ids.
  static std::vector<Node> link(std::vector<Node> nodes,
                                const std::unordered_map<std::string, size_t>& by_id,
                                std::vector<size_t>& roots);

  std::vector<Node> sessions_;
  std::vector<size_t> roots_;
  std::unordered_map<std::string, size_t> index_;  // id → position in sessions_
  std::vector<TimelineObserver*> observers_;
};

}  // namespace deja::ui
