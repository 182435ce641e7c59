// The catalog's record of what a session's timeline holds besides checkpoints and frames:
// gaps in its recording, the checkpoints the user pinned, and deleting a session entirely.
#include "db/Catalog.h"

namespace deja::db {

void Catalog::add_gap(const GapRow& gap) {
  Statement st(db_,
               "INSERT INTO recording_gaps (session, from_time, to_time, reason) "
               "VALUES (?, ?, ?, ?)");
  st.bind(1, gap.session).bind(2, gap.from).bind(3, gap.to).bind(4, gap.reason).run();
}

void Catalog::close_gaps(const std::string& session, const std::string& reason, double when) {
  Statement st(db_,
               "UPDATE recording_gaps SET to_time = max(from_time, ?) "
               "WHERE session = ? AND reason = ? AND to_time IS NULL");
  st.bind(1, when).bind(2, session).bind(3, reason).run();
}

std::vector<GapRow> Catalog::gaps(const std::string& session) {
  Statement st(db_,
               "SELECT session, from_time, to_time, reason FROM recording_gaps "
               "WHERE session = ? ORDER BY from_time, id");
  st.bind(1, session);
  std::vector<GapRow> out;
  while (st.step()) {
    GapRow g{st.text(0), st.real(1), std::nullopt, st.text(3)};
    if (!st.is_null(2)) g.to = st.real(2);
    out.push_back(std::move(g));
  }
  return out;
}

void Catalog::set_window_exclusions(const std::string& session,
                                    const std::vector<WindowExclusion>& windows) {
  Transaction tx(db_);
  Statement(db_, "DELETE FROM window_exclusions WHERE session = ?").bind(1, session).run();
  Statement st(db_, "INSERT INTO window_exclusions (session, kind, pattern) VALUES (?, ?, ?)");
  for (const WindowExclusion& w : windows) {
    st.bind(1, session).bind(2, w.kind).bind(3, w.pattern).run();
    st.reset();
  }
  tx.commit();
}

std::vector<WindowExclusion> Catalog::window_exclusions(const std::string& session) {
  Statement st(db_,
               "SELECT kind, pattern FROM window_exclusions WHERE session = ? ORDER BY rowid");
  st.bind(1, session);
  std::vector<WindowExclusion> out;
  while (st.step()) out.push_back({st.text(0), st.text(1)});
  return out;
}

void Catalog::pin(const std::string& session, Crid crid) {
  Statement(db_, "INSERT OR IGNORE INTO pins (session, crid) VALUES (?, ?)")
      .bind(1, session)
      .bind(2, crid.value)
      .run();
}

std::vector<Crid> Catalog::pins(const std::string& session) {
  Statement st(db_, "SELECT crid FROM pins WHERE session = ? ORDER BY crid");
  st.bind(1, session);
  std::vector<Crid> out;
  while (st.step()) out.push_back(Crid{static_cast<uint64_t>(st.int64(0))});
  return out;
}

std::vector<SegmentRow> Catalog::complete_segments() {
  Statement st(db_,
               "SELECT id, session, file, end_ms, bytes, start_ms FROM display_segments "
               "WHERE state != 'open' AND end_ms IS NOT NULL ORDER BY end_ms, id");
  std::vector<SegmentRow> out;
  while (st.step())
    out.push_back(
        {st.int64(0), st.text(1), st.text(2), st.int64(3), st.int64(4), st.int64(5)});
  return out;
}

void Catalog::delete_segments(const std::vector<SegmentRow>& segments) {
  Transaction tx(db_);
  Statement frames(db_, "DELETE FROM display_frames WHERE segment = ?");
  Statement rows(db_, "DELETE FROM display_segments WHERE id = ?");
  constexpr const char* kTextBy =
      "FROM display_text WHERE session = ?1 AND coalesce(last_ms, first_ms) <= ?2";
  Statement fts(db_, std::string("DELETE FROM display_text_fts WHERE rowid IN (SELECT id ") +
                         kTextBy + ")");
  Statement text(db_, std::string("DELETE ") + kTextBy);
  for (const SegmentRow& s : segments) {
    frames.bind(1, s.id).run();
    frames.reset();
    rows.bind(1, s.id).run();
    rows.reset();
    for (Statement* st : {&fts, &text}) {
      st->bind(1, s.session).bind(2, s.end_ms).run();
      st->reset();
    }
  }
  tx.commit();
}

void Catalog::delete_session(const std::string& id) {
  // Children before parents, as the foreign keys require.
  static constexpr const char* kSteps[] = {
      "DELETE FROM display_frames WHERE segment IN "
      "(SELECT id FROM display_segments WHERE session = ?1)",
      "DELETE FROM display_segments WHERE session = ?1",
      "DELETE FROM display_text_fts WHERE rowid IN "
      "(SELECT id FROM display_text WHERE session = ?1)",
      "DELETE FROM display_text WHERE session = ?1",
      "DELETE FROM display_focus WHERE session = ?1",
      "DELETE FROM display_windows WHERE session = ?1",
      "DELETE FROM window_exclusions WHERE session = ?1",
      "DELETE FROM checkpoints WHERE session = ?1",  // image_refs go with them (cascade)
      "DELETE FROM recording_gaps WHERE session = ?1",
      "DELETE FROM pins WHERE session = ?1",
      "DELETE FROM sessions WHERE id = ?1",
  };
  Transaction tx(db_);
  for (const char* sql : kSteps) Statement(db_, sql).bind(1, id).run();
  tx.commit();
}

}  // namespace deja::db
