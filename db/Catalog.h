// The store's catalog: which sessions exist, their branches, and their committed checkpoints.
// One SQLite file per store. Opening checks that the file is Deja's and not newer than this
// program, and migrates an older one in order inside one transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "db/Database.h"

namespace deja::db {

/// 'DEJA' in ASCII: PRAGMA application_id of every catalog.
inline constexpr int64_t kApplicationId = 0x44454a41;

/// A checkpoint id: unique in the store and strictly increasing in time.
struct Crid {
  uint64_t value = 0;
  auto operator<=>(const Crid&) const = default;
};

struct SessionRow {
  std::string id;
  std::string name;
  std::string state;   // "starting", "recording", "stopped", "failed"
  double started = 0;  // Unix time
  std::optional<double> stopped;
  std::optional<std::string> parent;
  std::optional<uint64_t> parent_crid;
  std::string command;  // JSON array of argv
  std::string home;     // the session's home inside its container
  std::optional<int64_t> supervisor_pid;
  std::optional<int64_t> init_pid;  // host PID of the session's init
  std::optional<int64_t> exit_status;
  std::optional<double> interval;  // seconds between checkpoints (0: none); unset: 1
  std::optional<int64_t> owner;    // uid it was recorded for through the service; unset: root
};

/// A window a session's screen recording blacks out and never reads: `kind` "app" matches
/// WM_CLASS (class or instance), "title" the title; `pattern` is a shell pattern (fnmatch).
struct WindowExclusion {
  std::string kind;
  std::string pattern;
  bool operator==(const WindowExclusion&) const = default;
};

/// A screen recording segment that is complete (finished or recovered).
struct SegmentRow {
  int64_t id = 0;
  std::string session;
  std::string file;  // relative to the store's recordings folder
  int64_t end_ms = 0;  // Unix milliseconds
  int64_t bytes = 0;
  int64_t start_ms = 0;  // Unix milliseconds of pts 0
};

/// One frame of a complete screen segment.
struct FrameRow {
  int64_t segment = 0;
  int64_t pts_ms = 0;   // in its segment
  int64_t time_ms = 0;  // Unix milliseconds
  bool key = false;     // a keyframe: decoding can start here
};

/// When a line of text was on screen: from first_ms until last_ms (Unix milliseconds).
struct TextSpan {
  int64_t id = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};

/// A stretch of a session's life with nothing recorded: no frames, text or checkpoints.
struct GapRow {
  std::string session;
  double from = 0;                // Unix time
  std::optional<double> to;       // unset while the gap lasts
  std::string reason;             // "unrecorded" (no recorder) or "paused" (by the user)
};

struct CheckpointRow {
  Crid crid;
  std::string session;
  double time = 0;                   // Unix time at freeze
  std::optional<std::string> image;  // image file, relative to the store's images area
  uint64_t fsid = 0;                 // btrfs subvolume id of the read-only snapshot
  std::string snapshot;              // snapshot path, relative to the store's root
  int64_t image_bytes = 0;
  int64_t pages_written = 0;
  double downtime_ms = 0;
  std::string downtime_parts = "{}";  // JSON object of named milliseconds
  std::optional<uint64_t> parent_crid;  // incremental image: taken relative to this CRID
  std::vector<Crid> references;         // older CRIDs whose images hold some of its pages
};

class Catalog {
 public:
  /// Opens (creating if missing) and migrates the catalog at `path`.
  explicit Catalog(const std::string& path);

  /// The schema version this program writes.
  static int64_t schema_version();

  void add_session(const SessionRow& s);
  std::optional<SessionRow> find_session(const std::string& id);
  std::vector<SessionRow> sessions();
  /// `state`: "recording", or "paused" for a paused session whose recorder was replaced.
  void set_session_running(const std::string& id, int64_t supervisor_pid, int64_t init_pid,
                           const std::string& state = "recording");
  void set_session_state(const std::string& id, const std::string& state);
  void set_session_stopped(const std::string& id, double when, std::optional<int64_t> status,
                           const std::string& state = "stopped");

  /// Reserves the next CRID. Reserved but never committed CRIDs are simply skipped.
  Crid reserve_crid();
  void add_checkpoint(const CheckpointRow& c);
  std::vector<CheckpointRow> checkpoints(const std::string& session);
  std::optional<CheckpointRow> find_checkpoint(const std::string& session, Crid crid);
  int64_t checkpoint_count(const std::string& session);
  /// The latest committed checkpoint of `session` taken at or before `unix_time`.
  std::optional<CheckpointRow> checkpoint_at(const std::string& session, double unix_time);
  /// Removes checkpoint rows in one transaction (their files go afterwards: a row must never
  /// name a file that is already gone).
  void delete_checkpoints(const std::vector<Crid>& crids);
  /// For each checkpoint, the older CRIDs whose images the image it was taken with refers
  /// to (kept after compaction: a live recorder's next image builds on that one).
  std::map<uint64_t, std::vector<uint64_t>> image_references();
  /// Replaces a checkpoint's image by a full one (compaction), which refers to nothing.
  void set_full_image(Crid crid, const std::string& image, int64_t image_bytes);
  /// Replaces a checkpoint's image by a rebased one (recorder/ImageRebase.h) and its
  /// references by that image's, in one transaction.
  void set_rebased_image(Crid crid, const std::string& image, int64_t image_bytes,
                         const std::vector<Crid>& references);
  /// CRIDs of `session` that branches were revived from.
  std::vector<Crid> branch_points(const std::string& session);

  /// Gaps in a session's recording (db/Timeline.cpp).
  void add_gap(const GapRow& gap);
  /// Ends the session's open gaps of `reason` at `when`.
  void close_gaps(const std::string& session, const std::string& reason, double when);
  std::vector<GapRow> gaps(const std::string& session);

  /// The windows kept out of a session's screen recording (set once, as the session starts).
  void set_window_exclusions(const std::string& session, const std::vector<WindowExclusion>& w);
  std::vector<WindowExclusion> window_exclusions(const std::string& session);

  /// Pinned checkpoints, which retention keeps.
  void pin(const std::string& session, Crid crid);
  std::vector<Crid> pins(const std::string& session);

  /// Complete screen segments of every session, the earliest ending first.
  std::vector<SegmentRow> complete_segments();
  /// Removes segments' rows, their frames, and the text rows of their sessions that were
  /// last seen by the end of the segment (text seen later stays), in one transaction.
  void delete_segments(const std::vector<SegmentRow>& segments);

  /// Thinning recordings (db/Recordings.cpp). The frames of a session's complete segments,
  /// in time order.
  std::vector<FrameRow> recorded_frames(const std::string& session);
  /// The start of the session's earliest segment still open (its frames are not indexed
  /// yet), if any.
  std::optional<int64_t> first_open_segment_ms(const std::string& session);
  /// After a segment's file was rewritten with fewer frames, moved `shift_ms` earlier: its
  /// frames are `kept` (pts as in the new file, in order), it starts `shift_ms` later and
  /// ends at its last kept frame,
  /// and its size is `bytes`, in one transaction.
  void thin_segment(int64_t segment, const std::vector<FrameRow>& kept, int64_t shift_ms,
                    int64_t bytes);
  /// Removes segments' rows and frames, leaving the text alone.
  void drop_segments(const std::vector<int64_t>& segments);
  /// Text lines of a session that left the screen at or before `before_ms`.
  std::vector<TextSpan> text_gone_by(const std::string& session, int64_t before_ms);
  /// Removes the `dropped` text lines and moves the first_ms of the `moved` ones, in one
  /// transaction.
  void thin_text(const std::vector<int64_t>& dropped, const std::vector<TextSpan>& moved);

  /// Removes every row of a session (checkpoints, recordings' index, text, gaps, pins) in
  /// one transaction; its files are the caller's to delete afterwards.
  void delete_session(const std::string& id);

  Database& database() { return db_; }

 private:
  Database db_;
};

}  // namespace deja::db
