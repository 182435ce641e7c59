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

}  // namespace

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> steps = {kV1};
  return steps;
}

}  // namespace deja::db
