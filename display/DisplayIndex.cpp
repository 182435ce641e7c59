#include "display/DisplayIndex.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "base/Error.h"
#include "display/Appearances.h"

namespace deja::display {

using db::Statement;
using db::Transaction;

namespace {

SegmentRow read_segment(const Statement& st, int col) {
  SegmentRow row{st.int64(col), st.text(col + 1), st.text(col + 2), st.int64(col + 3),
                 st.text(col + 4)};
  if (!st.is_null(col + 5)) row.end_ms = st.int64(col + 5);
  return row;
}

// Ends the open appearances `ids` of `table` (display_text or display_windows) at `ms`.
void close_appearances(db::Database& db, const char* table, const std::vector<int64_t>& ids,
                       int64_t ms) {
  Statement close(db, std::string("UPDATE ") + table +
                          " SET last_ms = ? WHERE id = ? AND last_ms IS NULL");
  for (int64_t id : ids) {
    close.bind(1, ms).bind(2, id).run();
    close.reset();
  }
}

constexpr int kRankWindow = 2000;

// Longer than any line waits between being shown and being stored (settling, the CPU
// cap's cooldown, the queue), with a wide margin.
constexpr int64_t kReadDelayMs = 3600 * 1000;

constexpr const char* kSegmentColumns = "s.id, s.session, s.file, s.start_ms, s.state, s.end_ms";

}  // namespace

std::string fts_query(const std::string& text) {
  std::string out, phrase, word;
  bool quoted = false;
  auto end_word = [&] {
    if (word.empty()) return;
    phrase += (phrase.empty() ? "" : " ") + word;
    word.clear();
  };
  // A bare word is a phrase of one word; either way the last word is a prefix.
  auto end_phrase = [&] {
    end_word();
    if (phrase.empty()) return;
    out += (out.empty() ? "\"" : " \"") + phrase + "\"*";
    phrase.clear();
  };
  // Words are what FTS5's unicode61 tokenizer would index: letters, digits and any
  // non-ASCII character. Everything else separates words, so no quote reaches FTS5 but
  // the ones written here.
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      word += static_cast<char>(c);
    } else if (c == '"') {
      end_phrase();
      quoted = !quoted;
    } else if (quoted) {
      end_word();
    } else {
      end_phrase();
    }
  }
  end_phrase();
  return out;
}

std::string fts_match(const TextQuery& q) {
  const std::string words = fts_query(q.text);
  if (words.empty()) return "";
  // The query's words are looked for in the text only, not in the window columns.
  std::string out = "{text joined} : (" + words + ")";
  // A filter is one phrase: quotes inside it only separate words.
  auto phrase = [](std::string filter) {
    std::replace(filter.begin(), filter.end(), '"', ' ');
    return fts_query("\"" + filter + "\"");
  };
  if (!q.app.empty()) {
    // An application is named whole: no prefix.
    std::string app = phrase(q.app);
    std::erase(app, '*');
    if (app.empty()) return "";
    out += " AND app : " + app;
  }
  if (!q.window.empty()) {
    const std::string title = phrase(q.window);
    if (title.empty()) return "";
    out += " AND title : " + title;
  }
  return out;
}

DisplayIndex::DisplayIndex(const std::string& catalog_path) : catalog_(catalog_path) {}

int64_t DisplayIndex::open_segment(const std::string& session, const std::string& file,
                                   int64_t start_ms, int width, int height) {
  auto& db = catalog_.database();
  Statement st(db,
               "INSERT INTO display_segments (session, file, start_ms, width, height, state) "
               "VALUES (?, ?, ?, ?, ?, 'open')");
  st.bind(1, session).bind(2, file).bind(3, start_ms).bind(4, width).bind(5, height).run();
  return db.last_insert_rowid();
}

void DisplayIndex::finish_segment(int64_t id, const std::vector<WrittenFrame>& frames,
                                  int64_t bytes, const std::string& state) {
  DEJA_CHECK(!frames.empty());
  auto& db = catalog_.database();
  Transaction tx(db);
  Statement ins(db, "INSERT INTO display_frames (segment, pts_ms, key) VALUES (?, ?, ?)");
  for (const WrittenFrame& f : frames) {
    ins.bind(1, id).bind(2, f.pts_ms).bind(3, f.key ? 1 : 0).run();
    ins.reset();
  }
  Statement up(db,
               "UPDATE display_segments SET state = ?, end_ms = start_ms + ?, frames = ?, "
               "bytes = ? WHERE id = ?");
  up.bind(1, state).bind(2, frames.back().pts_ms).bind(3, static_cast<int64_t>(frames.size()));
  up.bind(4, bytes).bind(5, id).run();
  tx.commit();
}

void DisplayIndex::drop_segment(int64_t id) {
  auto& db = catalog_.database();
  Transaction tx(db);
  Statement(db, "DELETE FROM display_frames WHERE segment = ?").bind(1, id).run();
  Statement(db, "DELETE FROM display_segments WHERE id = ?").bind(1, id).run();
  tx.commit();
}

std::vector<SegmentRow> DisplayIndex::open_segments() {
  Statement st(catalog_.database(), std::string("SELECT ") + kSegmentColumns +
                                        " FROM display_segments s WHERE s.state = 'open' "
                                        "ORDER BY s.id");
  std::vector<SegmentRow> out;
  while (st.step()) out.push_back(read_segment(st, 0));
  return out;
}

std::optional<SegmentRow> DisplayIndex::one_segment(const std::string& where,
                                                    const std::string& session, int64_t time_ms) {
  Statement st(catalog_.database(), std::string("SELECT ") + kSegmentColumns +
                                        " FROM display_segments s WHERE s.session = ? AND " +
                                        where + " LIMIT 1");
  st.bind(1, session).bind(2, time_ms);
  if (!st.step()) return std::nullopt;
  return read_segment(st, 0);
}

std::optional<SegmentRow> DisplayIndex::open_segment_at(const std::string& session,
                                                        int64_t time_ms) {
  return one_segment("s.state = 'open' AND s.start_ms <= ? ORDER BY s.start_ms DESC", session,
                     time_ms);
}

std::optional<SegmentRow> DisplayIndex::segment_after(const std::string& session,
                                                      int64_t time_ms) {
  return one_segment("s.start_ms > ? ORDER BY s.start_ms", session, time_ms);
}

std::optional<FrameLocation> DisplayIndex::frame_at(const std::string& session, int64_t time_ms) {
  auto& db = catalog_.database();
  // Segments of one session never overlap in time, so the last visible segment that
  // started at or before the moment holds the last frame at or before it.
  Statement seg(db, std::string("SELECT ") + kSegmentColumns +
                        " FROM display_segments s WHERE s.session = ? AND s.state != 'open' "
                        "AND s.start_ms <= ? ORDER BY s.start_ms DESC LIMIT 1");
  seg.bind(1, session).bind(2, time_ms);
  if (!seg.step()) return std::nullopt;
  FrameLocation loc{read_segment(seg, 0)};
  Statement fr(db,
               "SELECT pts_ms, (SELECT max(k.pts_ms) FROM display_frames k WHERE k.segment = "
               "f.segment AND k.key = 1 AND k.pts_ms <= f.pts_ms) FROM display_frames f "
               "WHERE f.segment = ? AND f.pts_ms <= ? ORDER BY f.pts_ms DESC LIMIT 1");
  fr.bind(1, loc.segment.id).bind(2, time_ms - loc.segment.start_ms);
  if (!fr.step()) return std::nullopt;
  loc.pts_ms = fr.int64(0);
  loc.key_pts_ms = fr.is_null(1) ? 0 : fr.int64(1);
  return loc;
}

std::vector<FrameLocation> DisplayIndex::frames_between(const std::string& session, int64_t from_ms,
                                                        int64_t to_ms) {
  std::vector<FrameLocation> out;
  std::optional<FrameLocation> first = frame_at(session, from_ms);
  int64_t after = from_ms;
  if (first) {
    after = first->time_ms();
    out.push_back(*first);
  }
  Statement st(catalog_.database(),
               std::string("SELECT ") + kSegmentColumns +
                   ", f.pts_ms, (SELECT max(k.pts_ms) FROM display_frames k WHERE k.segment = "
                   "f.segment AND k.key = 1 AND k.pts_ms <= f.pts_ms) "
                   "FROM display_segments s JOIN display_frames f ON f.segment = s.id "
                   "WHERE s.session = ? AND s.state != 'open' AND s.start_ms <= ? AND "
                   "s.end_ms > ? AND s.start_ms + f.pts_ms > ? AND s.start_ms + f.pts_ms <= ? "
                   "ORDER BY s.start_ms + f.pts_ms");
  st.bind(1, session).bind(2, to_ms).bind(3, after).bind(4, after).bind(5, to_ms);
  while (st.step()) {
    FrameLocation loc{read_segment(st, 0), st.int64(6), st.is_null(7) ? 0 : st.int64(7)};
    out.push_back(std::move(loc));
  }
  return out;
}

std::vector<int64_t> DisplayIndex::update_text(const std::string& session,
                                               const std::vector<int64_t>& closed,
                                               int64_t closed_ms,
                                               const std::vector<TextLine>& opened,
                                               int64_t first_ms,
                                               const std::vector<std::optional<int64_t>>& windows,
                                               const std::string& source) {
  std::vector<int64_t> ids;
  if (closed.empty() && opened.empty()) return ids;
  auto& db = catalog_.database();
  Transaction tx(db);
  close_appearances(db, "display_text", closed, closed_ms);
  Statement row(db,
                "INSERT INTO display_text (session, first_ms, x, y, w, h, confidence, window, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  // The window's application (class and instance) and title go with the line, for --app
  // and --window inside the full-text index.
  Statement fts(db,
                "INSERT INTO display_text_fts (rowid, text, joined, app, title) "
                "SELECT ?1, ?2, ?3, coalesce(w.app || ' ' || w.instance, ''), "
                "coalesce(w.title, '') FROM (SELECT 1) LEFT JOIN display_windows w ON w.id = ?4");
  for (size_t i = 0; i < opened.size(); ++i) {
    const TextLine& line = opened[i];
    row.bind(8, i < windows.size() ? windows[i] : std::nullopt).bind(9, source);
    row.bind(1, session).bind(2, first_ms).bind(3, line.box.x).bind(4, line.box.y);
    row.bind(5, line.box.w).bind(6, line.box.h).bind(7, static_cast<double>(line.confidence));
    row.run();
    row.reset();
    ids.push_back(db.last_insert_rowid());
    fts.bind(1, ids.back()).bind(2, line.text).bind(3, line.joined);
    fts.bind(4, i < windows.size() ? windows[i] : std::nullopt).run();
    fts.reset();
  }
  tx.commit();
  return ids;
}

std::vector<int64_t> DisplayIndex::update_windows(const std::string& session,
                                                  const std::vector<int64_t>& closed,
                                                  const std::vector<WindowInfo>& opened,
                                                  int64_t ms) {
  std::vector<int64_t> ids;
  if (closed.empty() && opened.empty()) return ids;
  auto& db = catalog_.database();
  Transaction tx(db);
  close_appearances(db, "display_windows", closed, ms);
  Statement row(db,
                "INSERT INTO display_windows (session, xid, app, instance, title, first_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)");
  for (const WindowInfo& w : opened) {
    row.bind(1, session).bind(2, int64_t{w.xid}).bind(3, w.app).bind(4, w.instance);
    row.bind(5, w.title).bind(6, ms).run();
    row.reset();
    ids.push_back(db.last_insert_rowid());
  }
  tx.commit();
  return ids;
}

void DisplayIndex::set_focus(const std::string& session, std::optional<int64_t> window,
                             int64_t ms) {
  auto& db = catalog_.database();
  Transaction tx(db);
  Statement(db, "UPDATE display_focus SET last_ms = ? WHERE session = ? AND last_ms IS NULL")
      .bind(1, ms)
      .bind(2, session)
      .run();
  if (window)
    Statement(db, "INSERT OR REPLACE INTO display_focus (session, first_ms, window) VALUES (?, ?, ?)")
        .bind(1, session)
        .bind(2, ms)
        .bind(3, *window)
        .run();
  tx.commit();
}

std::vector<TextHit> DisplayIndex::search(const std::string& text, const std::string& session,
                                          int limit) {
  TextQuery q;
  q.text = text;
  q.session = session;
  q.limit = limit;
  return search(q);
}

int64_t DisplayIndex::last_id_before(std::optional<int64_t> to_ms) {
  constexpr int64_t kAll = std::numeric_limits<int64_t>::max();
  if (!to_ms) return kAll;
  // Lines are inserted when read, a little after they were first shown, and ids grow
  // with insertion. Every line inserted after the first one shown later than to_ms +
  // kReadDelayMs was read more than kReadDelayMs after it was shown if it was shown by
  // to_ms: longer than recognition ever waits. So the search of a range far back starts
  // there instead of walking every newer match.
  Statement st(catalog_.database(),
               "SELECT id FROM display_text WHERE first_ms > ? ORDER BY first_ms LIMIT 1");
  st.bind(1, *to_ms > kAll - kReadDelayMs ? kAll : *to_ms + kReadDelayMs);
  return st.step() ? st.int64(0) : kAll;
}

std::vector<TextHit> DisplayIndex::search(const TextQuery& q) {
  std::vector<TextHit> out;
  std::string match = fts_match(q);
  if (match.empty()) return out;
  // bm25 ranks by how well a line matches. Ranking every match of a word that was on
  // screen all week would cost hundreds of milliseconds, so only the most recent
  // kRankWindow matches are ranked (FTS5 walks its index newest first and stops there):
  // exact for all but the most common words, and recent lines win among those.
  // Only the best `limit` of those are then looked up in full; the lines' own table is
  // joined before ranking only when the session or the time range needs it.
  const bool by_line = !q.session.empty() || q.from_ms || q.to_ms;
  Statement st(catalog_.database(),
               std::string("SELECT t.session, s.started, t.first_ms, t.last_ms, f.text, t.x, t.y, "
                           "  t.w, t.h, w.app, w.title, t.source "
                           "FROM (SELECT id, score FROM ("
                           "  SELECT f.rowid AS id, bm25(display_text_fts) AS score "
                           "  FROM display_text_fts f ") +
                   (by_line ? "JOIN display_text t ON t.id = f.rowid " : "") +
                   "  WHERE display_text_fts MATCH ?1 AND f.rowid <= ?8 " +
                   (by_line ? "  AND (?2 = '' OR t.session = ?2) "
                              "  AND t.first_ms <= ?3 AND coalesce(t.last_ms, ?4) >= ?5 "
                            : "") +
                   "  ORDER BY f.rowid DESC LIMIT ?6) "
                   "  ORDER BY score, id DESC LIMIT ?7) m "
                   "JOIN display_text t ON t.id = m.id JOIN display_text_fts f ON f.rowid = m.id "
                   "JOIN sessions s ON s.id = t.session "
                   "LEFT JOIN display_windows w ON w.id = t.window "
                   "ORDER BY m.score, m.id DESC");
  constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
  st.bind(1, match).bind(2, q.session);
  st.bind(3, q.to_ms.value_or(kNever)).bind(4, kNever);
  st.bind(5, q.from_ms.value_or(std::numeric_limits<int64_t>::min()));
  // An appearance read both ways is two rows: enough rows for `limit` appearances.
  st.bind(6, kRankWindow).bind(7, int64_t(q.limit) * 2).bind(8, last_id_before(q.to_ms));
  while (st.step()) {
    TextHit hit{st.text(0), st.real(1), st.int64(2), std::nullopt, st.text(4),
                Rect{int(st.int64(5)), int(st.int64(6)), int(st.int64(7)), int(st.int64(8))}};
    if (!st.is_null(3)) hit.last_ms = st.int64(3);
    hit.app = st.opt_text(9);
    hit.window = st.opt_text(10);
    hit.source = st.text(11);
    hit.sources = {hit.source};
    out.push_back(std::move(hit));
  }
  return merge_appearances(out, size_t(std::max(q.limit, 0)));
}

}  // namespace deja::display
