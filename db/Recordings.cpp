// The catalog's side of thinning screen recordings (recorder/RetentionOfRecordings.cpp):
// reading a session's frames and text spans, and recording what thinning left.
#include "db/Catalog.h"

namespace deja::db {

std::vector<FrameRow> Catalog::recorded_frames(const std::string& session) {
  Statement st(db_,
               "SELECT f.segment, f.pts_ms, s.start_ms + f.pts_ms, f.key "
               "FROM display_segments s JOIN display_frames f ON f.segment = s.id "
               "WHERE s.session = ? AND s.state != 'open' ORDER BY s.start_ms + f.pts_ms, s.id");
  st.bind(1, session);
  std::vector<FrameRow> out;
  while (st.step()) out.push_back({st.int64(0), st.int64(1), st.int64(2), st.int64(3) != 0});
  return out;
}

std::optional<int64_t> Catalog::first_open_segment_ms(const std::string& session) {
  Statement st(db_,
               "SELECT min(start_ms) FROM display_segments WHERE session = ? AND state = 'open'");
  st.bind(1, session);
  if (!st.step() || st.is_null(0)) return std::nullopt;
  return st.int64(0);
}

void Catalog::thin_segment(int64_t segment, const std::vector<FrameRow>& kept,
                           int64_t shift_ms, int64_t bytes) {
  Transaction tx(db_);
  Statement(db_, "DELETE FROM display_frames WHERE segment = ?").bind(1, segment).run();
  Statement add(db_, "INSERT INTO display_frames (segment, pts_ms, key) VALUES (?, ?, ?)");
  for (const FrameRow& f : kept) {
    add.bind(1, segment).bind(2, f.pts_ms).bind(3, f.key ? 1 : 0).run();
    add.reset();
  }
  Statement(db_,
            "UPDATE display_segments SET start_ms = start_ms + ?1, end_ms = start_ms + ?1 + ?2, "
            "frames = ?3, bytes = ?4 WHERE id = ?5")
      .bind(1, shift_ms)
      .bind(2, kept.back().pts_ms)  // end_ms: the time of its last frame
      .bind(3, static_cast<int64_t>(kept.size()))
      .bind(4, bytes)
      .bind(5, segment)
      .run();
  tx.commit();
}

void Catalog::drop_segments(const std::vector<int64_t>& segments) {
  Transaction tx(db_);
  Statement frames(db_, "DELETE FROM display_frames WHERE segment = ?");
  Statement rows(db_, "DELETE FROM display_segments WHERE id = ?");
  for (int64_t id : segments) {
    for (Statement* st : {&frames, &rows}) {
      st->bind(1, id).run();
      st->reset();
    }
  }
  tx.commit();
}

std::vector<TextSpan> Catalog::text_gone_by(const std::string& session, int64_t before_ms) {
  Statement st(db_,
               "SELECT id, first_ms, last_ms FROM display_text WHERE session = ? AND "
               "last_ms IS NOT NULL AND last_ms <= ? ORDER BY first_ms, id");
  st.bind(1, session).bind(2, before_ms);
  std::vector<TextSpan> out;
  while (st.step()) out.push_back({st.int64(0), st.int64(1), st.int64(2)});
  return out;
}

void Catalog::thin_text(const std::vector<int64_t>& dropped, const std::vector<TextSpan>& moved) {
  Transaction tx(db_);
  Statement fts(db_, "DELETE FROM display_text_fts WHERE rowid = ?");
  Statement text(db_, "DELETE FROM display_text WHERE id = ?");
  for (int64_t id : dropped) {
    for (Statement* st : {&fts, &text}) {
      st->bind(1, id).run();
      st->reset();
    }
  }
  Statement move(db_, "UPDATE display_text SET first_ms = ? WHERE id = ?");
  for (const TextSpan& t : moved) {
    move.bind(1, t.first_ms).bind(2, t.id).run();
    move.reset();
  }
  tx.commit();
}

}  // namespace deja::db
