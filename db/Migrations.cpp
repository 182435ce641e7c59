#include "db/Migrations.h"

namespace deja::db {

namespace {

// Version 1: sessions (with branch parents) and committed checkpoints; a counter for CRIDs.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  started REAL NOT NULL,
  stopped REAL,
  parent TEXT REFERENCES sessions(id),
  parent_crid INTEGER,
  command TEXT NOT NULL,
  home TEXT NOT NULL,
  supervisor_pid INTEGER,
  init_pid INTEGER,
  exit_status INTEGER
);
CREATE TABLE checkpoints (
  crid INTEGER PRIMARY KEY,
  session TEXT NOT NULL REFERENCES sessions(id),
  time REAL NOT NULL,
  image TEXT,
  fsid INTEGER NOT NULL,
  snapshot TEXT NOT NULL,
  image_bytes INTEGER NOT NULL DEFAULT 0,
  pages_written INTEGER NOT NULL DEFAULT 0,
  downtime_ms REAL NOT NULL,
  downtime_parts TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX checkpoints_by_session ON checkpoints(session, time);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters VALUES ('crid', 0);
)sql";

// Version 2: display recording (docs/recording-format.md). Times are Unix milliseconds.
// A segment is a Matroska file under the store's recordings folder; it is 'open' while
// its recorder writes it (invisible to readers, with no frame rows yet) and becomes
// 'finished' or, after a crash, 'recovered' together with its frame rows. Each text line
// seen on screen has one row with the time range it was visible (last_ms NULL: until the
// recording ended abruptly) and an FTS5 row with the same rowid holding its text and the
// joined forms of words OCR may have split ("yel low" -> "yellow").
constexpr std::string_view kV2 = R"sql(
CREATE TABLE display_segments (
  id INTEGER PRIMARY KEY,
  session TEXT NOT NULL REFERENCES sessions(id),
  file TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'finished', 'recovered')),
  frames INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX display_segments_by_session ON display_segments(session, start_ms);
CREATE TABLE display_frames (
  segment INTEGER NOT NULL REFERENCES display_segments(id),
  pts_ms INTEGER NOT NULL,
  key INTEGER NOT NULL,
  PRIMARY KEY (segment, pts_ms)
) WITHOUT ROWID;
CREATE TABLE display_text (
  id INTEGER PRIMARY KEY,
  session TEXT NOT NULL REFERENCES sessions(id),
  first_ms INTEGER NOT NULL,
  last_ms INTEGER,
  x INTEGER NOT NULL,
  y INTEGER NOT NULL,
  w INTEGER NOT NULL,
  h INTEGER NOT NULL,
  confidence REAL NOT NULL
);
CREATE INDEX display_text_by_session ON display_text(session, first_ms);
CREATE VIRTUAL TABLE display_text_fts USING fts5(text, joined);
)sql";

// Version 3: incremental chains (docs/image-format.md). The image a checkpoint is taken with
// (its chain image, <CRID>.img) may refer to page data in older images of its session; each
// such older CRID gets a row here, written with the checkpoint's own row, so gc never deletes
// an image that a kept checkpoint still needs. The rows stay when compaction gives the
// checkpoint a full image: a live recorder's next image builds on the chain image.
// parent_crid is the checkpoint an incremental image was taken relative to (NULL: full).
constexpr std::string_view kV3 = R"sql(
CREATE TABLE image_refs (
  crid INTEGER NOT NULL REFERENCES checkpoints(crid) ON DELETE CASCADE,
  ref_crid INTEGER NOT NULL,
  PRIMARY KEY (crid, ref_crid)
) WITHOUT ROWID;
CREATE INDEX image_refs_by_ref ON image_refs(ref_crid);
ALTER TABLE checkpoints ADD COLUMN parent_crid INTEGER;
)sql";

// Version 4: always-on recording (docs/sessions.md). A session's checkpoint interval, so a
// new recorder can adopt it; the stretches of its life that were not recorded (its recorder
// was gone, or the user paused it; to_time NULL while the gap lasts); and the checkpoints
// the user pinned, which retention keeps.
constexpr std::string_view kV4 = R"sql(
ALTER TABLE sessions ADD COLUMN interval REAL;
CREATE TABLE recording_gaps (
  id INTEGER PRIMARY KEY,
  session TEXT NOT NULL REFERENCES sessions(id),
  from_time REAL NOT NULL,
  to_time REAL,
  reason TEXT NOT NULL CHECK (reason IN ('unrecorded', 'paused'))
);
CREATE INDEX recording_gaps_by_session ON recording_gaps(session, from_time);
CREATE TABLE pins (
  session TEXT NOT NULL REFERENCES sessions(id),
  crid INTEGER NOT NULL,
  PRIMARY KEY (session, crid)
) WITHOUT ROWID;
)sql";

// Version 5: window context of on-screen text (docs/recording-format.md). Each appearance of
// a top-level window (mapped, until unmapped or renamed) is a row with its application
// (WM_CLASS class and instance) and title; the stretches during which one window had the
// keyboard focus; and the window each text line was read in (NULL: none, or read before
// version 5). The FTS5 table gets the window's application and title as columns of each
// line, so search filters by them inside the full-text index (an FTS5 table cannot gain
// columns: it is rebuilt, the old lines with empty ones). Lines by time, for searches of a
// time range far back.
constexpr std::string_view kV5 = R"sql(
CREATE TABLE display_windows (
  id INTEGER PRIMARY KEY,
  session TEXT NOT NULL REFERENCES sessions(id),
  xid INTEGER NOT NULL,
  app TEXT NOT NULL,
  instance TEXT NOT NULL,
  title TEXT NOT NULL,
  first_ms INTEGER NOT NULL,
  last_ms INTEGER
);
CREATE INDEX display_windows_by_session ON display_windows(session, first_ms);
CREATE TABLE display_focus (
  session TEXT NOT NULL REFERENCES sessions(id),
  first_ms INTEGER NOT NULL,
  last_ms INTEGER,
  window INTEGER NOT NULL REFERENCES display_windows(id),
  PRIMARY KEY (session, first_ms)
) WITHOUT ROWID;
ALTER TABLE display_text ADD COLUMN window INTEGER REFERENCES display_windows(id);
CREATE INDEX display_text_by_time ON display_text(first_ms);
CREATE VIRTUAL TABLE display_text_fts_v5 USING fts5(text, joined, app, title);
INSERT INTO display_text_fts_v5 (rowid, text, joined, app, title)
  SELECT rowid, text, joined, '', '' FROM display_text_fts;
DROP TABLE display_text_fts;
ALTER TABLE display_text_fts_v5 RENAME TO display_text_fts;
)sql";

// Version 6: privacy (docs/service.md). The windows a session's screen recording blacks out
// and never reads (by WM_CLASS or title, shell patterns), kept with the session so a new
// recorder and a revived branch apply them too; and the user a session was recorded for
// through the service (NULL: the store's owner), who alone sees it there.
constexpr std::string_view kV6 = R"sql(
CREATE TABLE window_exclusions (
  session TEXT NOT NULL REFERENCES sessions(id),
  kind TEXT NOT NULL CHECK (kind IN ('app', 'title')),
  pattern TEXT NOT NULL
);
CREATE INDEX window_exclusions_by_session ON window_exclusions(session);
ALTER TABLE sessions ADD COLUMN owner INTEGER;
)sql";

// Version 7: text from the accessibility bus (docs/recording-format.md). Each line says how it
// was read: "ocr" from the screen's pixels, "atspi" as an application exposed it on the
// session's accessibility bus. Lines stored before are OCR's.
constexpr std::string_view kV7 = R"sql(
ALTER TABLE display_text ADD COLUMN source TEXT NOT NULL DEFAULT 'ocr'
  CHECK (source IN ('ocr', 'atspi'));
)sql";

}  // namespace

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> steps = {kV1, kV2, kV3, kV4, kV5, kV6, kV7};
  return steps;
}

}  // namespace deja::db
