#include "db/Catalog.h"

#include <sys/stat.h>

#include <cerrno>

#include "base/Error.h"
#include "db/Migrations.h"

namespace deja::db {

namespace {

void check_and_migrate(Database& db) {
  int64_t app = db.pragma_int("application_id");
  int64_t version = db.pragma_int("user_version");
  int64_t latest = Catalog::schema_version();
  if (app != 0 && app != kApplicationId)
    throw Error("catalog " + db.path() + " is not a Deja catalog (application_id " +
                std::to_string(app) + "); move it away or choose another --store");
  if (version > latest)
    throw Error("catalog " + db.path() + " has schema version " + std::to_string(version) +
                ", newer than this deja understands (" + std::to_string(latest) +
                "); use a newer deja");
  if (version == latest && app == kApplicationId) return;
  if (app == 0) {
    Statement tables(db, "SELECT count(*) FROM sqlite_schema");
    tables.step();
    if (version != 0 || tables.int64(0) != 0)
      throw Error("catalog " + db.path() +
                  " is an SQLite file of another program; move it away or choose another --store");
  }
  Transaction tx(db);
  // Re-read inside the write lock: another process may have migrated meanwhile.
  version = db.pragma_int("user_version");
  for (int64_t v = version; v < latest; ++v) db.exec(migrations()[static_cast<size_t>(v)]);
  db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  db.exec("PRAGMA user_version = " + std::to_string(latest));
  tx.commit();
}

SessionRow read_session(const Statement& st) {
  SessionRow s;
  s.id = st.text(0);
  s.name = st.text(1);
  s.state = st.text(2);
  s.started = st.real(3);
  if (!st.is_null(4)) s.stopped = st.real(4);
  s.parent = st.opt_text(5);
  if (auto c = st.opt_int64(6)) s.parent_crid = static_cast<uint64_t>(*c);
  s.command = st.text(7);
  s.home = st.text(8);
  s.supervisor_pid = st.opt_int64(9);
  s.init_pid = st.opt_int64(10);
  s.exit_status = st.opt_int64(11);
  if (!st.is_null(12)) s.interval = st.real(12);
  s.owner = st.opt_int64(13);
  return s;
}

constexpr const char* kSessionColumns =
    "SELECT id, name, state, started, stopped, parent, parent_crid, command, home, "
    "supervisor_pid, init_pid, exit_status, interval, owner FROM sessions ";

CheckpointRow read_checkpoint(const Statement& st) {
  CheckpointRow c;
  c.crid = Crid{static_cast<uint64_t>(st.int64(0))};
  c.session = st.text(1);
  c.time = st.real(2);
  c.image = st.opt_text(3);
  c.fsid = static_cast<uint64_t>(st.int64(4));
  c.snapshot = st.text(5);
  c.image_bytes = st.int64(6);
  c.pages_written = st.int64(7);
  c.downtime_ms = st.real(8);
  c.downtime_parts = st.text(9);
  if (auto parent = st.opt_int64(10)) c.parent_crid = static_cast<uint64_t>(*parent);
  return c;
}

constexpr const char* kCheckpointColumns =
    "SELECT crid, session, time, image, fsid, snapshot, image_bytes, pages_written, "
    "downtime_ms, downtime_parts, parent_crid FROM checkpoints ";

}  // namespace

int64_t Catalog::schema_version() {
  return static_cast<int64_t>(migrations().size());
}

Catalog::Catalog(const std::string& path) : db_(path) {
  // What the user's screen showed is theirs alone; SQLite gives its -wal and -shm files the
  // mode of the main file.
  if (::chmod(path.c_str(), 0600) != 0 && errno != EPERM) throw_errno("chmod", path);
  // Checked before anything that could write, so a refused file is left as it was.
  check_and_migrate(db_);
  db_.exec("PRAGMA journal_mode = WAL");
  // A checkpoint row is the commit point of a checkpoint: it must survive a power cut.
  db_.exec("PRAGMA synchronous = FULL");
  db_.exec("PRAGMA foreign_keys = ON");
}

void Catalog::add_session(const SessionRow& s) {
  Statement st(db_,
               "INSERT INTO sessions (id, name, state, started, stopped, parent, parent_crid, "
               "command, home, supervisor_pid, init_pid, exit_status, interval, owner) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  st.bind(1, s.id).bind(2, s.name).bind(3, s.state).bind(4, s.started).bind(5, s.stopped);
  st.bind(6, s.parent);
  if (s.parent_crid)
    st.bind(7, *s.parent_crid);
  else
    st.bind_null(7);
  st.bind(8, s.command).bind(9, s.home).bind(10, s.supervisor_pid).bind(11, s.init_pid);
  st.bind(12, s.exit_status).bind(13, s.interval).bind(14, s.owner);
  st.run();
}

std::optional<SessionRow> Catalog::find_session(const std::string& id) {
  Statement st(db_, std::string(kSessionColumns) + "WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_session(st);
}

std::vector<SessionRow> Catalog::sessions() {
  Statement st(db_, std::string(kSessionColumns) + "ORDER BY started, id");
  std::vector<SessionRow> out;
  while (st.step()) out.push_back(read_session(st));
  return out;
}

void Catalog::set_session_running(const std::string& id, int64_t supervisor_pid, int64_t init_pid,
                                  const std::string& state) {
  Statement st(db_,
               "UPDATE sessions SET state = ?, supervisor_pid = ?, init_pid = ? WHERE id = ?");
  st.bind(1, state).bind(2, supervisor_pid).bind(3, init_pid).bind(4, id).run();
}

void Catalog::set_session_state(const std::string& id, const std::string& state) {
  Statement(db_, "UPDATE sessions SET state = ? WHERE id = ?").bind(1, state).bind(2, id).run();
}

void Catalog::set_session_stopped(const std::string& id, double when, std::optional<int64_t> status,
                                  const std::string& state) {
  Statement st(db_,
               "UPDATE sessions SET state = ?, stopped = ?, exit_status = ?, "
               "supervisor_pid = NULL, init_pid = NULL WHERE id = ?");
  st.bind(1, state).bind(2, when).bind(3, status).bind(4, id).run();
}

Crid Catalog::reserve_crid() {
  Statement st(db_, "UPDATE counters SET value = value + 1 WHERE name = 'crid' RETURNING value");
  if (!st.step()) db_.fail("reserve CRID");
  Crid c{static_cast<uint64_t>(st.int64(0))};
  st.run();
  return c;
}

void Catalog::add_checkpoint(const CheckpointRow& c) {
  // The row and the references it needs appear together or not at all.
  Transaction tx(db_);
  Statement st(db_,
               "INSERT INTO checkpoints (crid, session, time, image, fsid, snapshot, "
               "image_bytes, pages_written, downtime_ms, downtime_parts, parent_crid) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  st.bind(1, c.crid.value).bind(2, c.session).bind(3, c.time).bind(4, c.image);
  st.bind(5, c.fsid).bind(6, c.snapshot).bind(7, c.image_bytes).bind(8, c.pages_written);
  st.bind(9, c.downtime_ms).bind(10, c.downtime_parts);
  if (c.parent_crid) st.bind(11, *c.parent_crid);
  st.run();
  Statement ref(db_, "INSERT INTO image_refs (crid, ref_crid) VALUES (?, ?)");
  for (Crid r : c.references) {
    ref.bind(1, c.crid.value).bind(2, r.value).run();
    ref.reset();
  }
  tx.commit();
}

std::map<uint64_t, std::vector<uint64_t>> Catalog::image_references() {
  Statement st(db_, "SELECT crid, ref_crid FROM image_refs ORDER BY crid, ref_crid");
  std::map<uint64_t, std::vector<uint64_t>> out;
  while (st.step())
    out[static_cast<uint64_t>(st.int64(0))].push_back(static_cast<uint64_t>(st.int64(1)));
  return out;
}

void Catalog::set_full_image(Crid crid, const std::string& image, int64_t image_bytes) {
  Transaction tx(db_);
  Statement st(db_,
               "UPDATE checkpoints SET image = ?, image_bytes = ?, parent_crid = NULL "
               "WHERE crid = ?");
  st.bind(1, image).bind(2, image_bytes).bind(3, crid.value).run();
  tx.commit();
}

void Catalog::set_rebased_image(Crid crid, const std::string& image, int64_t image_bytes,
                                const std::vector<Crid>& references) {
  Transaction tx(db_);
  Statement(db_, "UPDATE checkpoints SET image = ?, image_bytes = ? WHERE crid = ?")
      .bind(1, image).bind(2, image_bytes).bind(3, crid.value).run();
  Statement(db_, "DELETE FROM image_refs WHERE crid = ?").bind(1, crid.value).run();
  Statement ref(db_, "INSERT INTO image_refs (crid, ref_crid) VALUES (?, ?)");
  for (Crid r : references) {
    ref.bind(1, crid.value).bind(2, r.value).run();
    ref.reset();
  }
  tx.commit();
}

std::vector<CheckpointRow> Catalog::checkpoints(const std::string& session) {
  Statement st(db_, std::string(kCheckpointColumns) + "WHERE session = ? ORDER BY crid");
  st.bind(1, session);
  std::vector<CheckpointRow> out;
  while (st.step()) out.push_back(read_checkpoint(st));
  return out;
}

std::optional<CheckpointRow> Catalog::find_checkpoint(const std::string& session, Crid crid) {
  Statement st(db_, std::string(kCheckpointColumns) + "WHERE session = ? AND crid = ?");
  st.bind(1, session).bind(2, crid.value);
  if (!st.step()) return std::nullopt;
  return read_checkpoint(st);
}

std::optional<CheckpointRow> Catalog::checkpoint_at(const std::string& session, double unix_time) {
  Statement st(db_, std::string(kCheckpointColumns) +
                        "WHERE session = ? AND time <= ? ORDER BY time DESC, crid DESC LIMIT 1");
  st.bind(1, session).bind(2, unix_time);
  if (!st.step()) return std::nullopt;
  return read_checkpoint(st);
}

int64_t Catalog::checkpoint_count(const std::string& session) {
  Statement st(db_, "SELECT count(*) FROM checkpoints WHERE session = ?");
  st.bind(1, session);
  st.step();
  return st.int64(0);
}

void Catalog::delete_checkpoints(const std::vector<Crid>& crids) {
  Transaction tx(db_);
  Statement st(db_, "DELETE FROM checkpoints WHERE crid = ?");
  for (Crid c : crids) {
    st.bind(1, c.value).run();
    st.reset();
  }
  tx.commit();
}

std::vector<Crid> Catalog::branch_points(const std::string& session) {
  Statement st(db_,
               "SELECT DISTINCT parent_crid FROM sessions WHERE parent = ? AND parent_crid "
               "IS NOT NULL");
  st.bind(1, session);
  std::vector<Crid> out;
  while (st.step()) out.push_back(Crid{static_cast<uint64_t>(st.int64(0))});
  return out;
}

}  // namespace deja::db
