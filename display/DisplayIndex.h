// The display part of the catalog: recorded segments, the times of their frames, and the
// text seen on screen (tables created by the catalog's display migration, see
// docs/recording-format.md). Times are Unix milliseconds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "db/Catalog.h"
#include "display/Rect.h"
#include "display/TextRecognizer.h"
#include "display/VideoWriter.h"
#include "display/WindowTracker.h"

namespace deja::display {

struct SegmentRow {
  int64_t id = 0;
  std::string session;
  std::string file;      // relative to the store's recordings folder
  int64_t start_ms = 0;  // Unix time of pts 0
  std::string state;     // "open", "finished" or "recovered"
  std::optional<int64_t> end_ms;  // time of its last frame; none while open
};

/// Where to find the screen as it was at some moment.
struct FrameLocation {
  SegmentRow segment;
  int64_t pts_ms = 0;      // the frame's time in the segment
  int64_t key_pts_ms = 0;  // the keyframe decoding has to start from
  int64_t time_ms() const { return segment.start_ms + pts_ms; }
};

/// One appearance of a line of text: from when it came on screen until it left.
struct TextHit {
  std::string session;
  double session_started = 0;     // Unix seconds, to turn first_ms into a session time
  int64_t first_ms = 0;           // when the text was first on screen
  std::optional<int64_t> last_ms;  // when it left; none while it is still on screen
  std::string text;
  Rect box;
  // The window the line was read in (none: outside every window, or recorded before
  // windows were); app is its WM_CLASS class.
  std::optional<std::string> app, window;
  std::string source = "ocr";  // "ocr": read from the pixels; "atspi": the accessibility bus
  /// Every way this appearance was read, sorted (search merges the hits of one appearance
  /// read both ways; text and box are then the bus's).
  std::vector<std::string> sources;
};

/// What to look for in the text index.
struct TextQuery {
  /// Words, each matching any word it begins ("err" finds "errors"), and "quoted phrases",
  /// matching those words in a row, the last one as a prefix too.
  std::string text;
  std::string session;  // empty: every session
  /// Only appearances on screen at some moment in [from_ms, to_ms] (Unix milliseconds).
  std::optional<int64_t> from_ms, to_ms;
  /// Only lines read in a window of this application: its WM_CLASS class or instance,
  /// whole, ignoring case (empty: any).
  std::string app;
  /// Only lines read in a window whose title holds these words in a row, the last one as
  /// a prefix, ignoring case ("notes.o" finds "notes.org - Emacs"; empty: any).
  std::string window;
  int limit = 50;
};

/// Catalog access for display recording. One per thread (it owns a connection).
class DisplayIndex {
 public:
  explicit DisplayIndex(const std::string& catalog_path);

  /// Registers a segment being written. It stays invisible to frame lookups until
  /// finish_segment() or recovery: readers never see a half-written file.
  int64_t open_segment(const std::string& session, const std::string& file, int64_t start_ms,
                       int width, int height);
  /// Records the frames written and makes the segment visible, in one transaction.
  void finish_segment(int64_t id, const std::vector<WrittenFrame>& frames, int64_t bytes,
                      const std::string& state = "finished");
  /// Forgets a segment that holds no usable frame (its file is removed by the caller).
  void drop_segment(int64_t id);
  /// Segments still marked open: being written, or left by a recorder that died.
  std::vector<SegmentRow> open_segments();

  /// The latest segment of `session` still marked open that started at or before
  /// `time_ms`: the one being recorded (or left by a dead recorder, until recovered).
  std::optional<SegmentRow> open_segment_at(const std::string& session, int64_t time_ms);
  /// The first segment of `session`, open or not, that started after `time_ms`
  /// (time_ms = INT64_MIN: its first segment).
  std::optional<SegmentRow> segment_after(const std::string& session, int64_t time_ms);

  /// The last frame of `session` at or before `time_ms` in a finished or recovered
  /// segment, if any.
  std::optional<FrameLocation> frame_at(const std::string& session, int64_t time_ms);
  /// Every frame of `session` from the last one at or before `from_ms` through `to_ms`.
  std::vector<FrameLocation> frames_between(const std::string& session, int64_t from_ms,
                                            int64_t to_ms);

  /// Records one recognition pass in one transaction: the lines `closed` left the screen
  /// at `closed_ms`, the `opened` ones are on it since `first_ms`. Returns the ids of the
  /// opened lines, in order, for closing them later. `windows[i]` is the window (a
  /// display_windows id) opened[i] was read in; missing or none: no window. `source`: how
  /// the opened lines were read ("ocr" or "atspi").
  std::vector<int64_t> update_text(const std::string& session, const std::vector<int64_t>& closed,
                                   int64_t closed_ms, const std::vector<TextLine>& opened,
                                   int64_t first_ms,
                                   const std::vector<std::optional<int64_t>>& windows = {},
                                   const std::string& source = "ocr");
  /// Records window changes in one transaction: the `closed` window rows went at `ms`, the
  /// `opened` windows appeared then. Returns the ids of the opened ones, in order.
  std::vector<int64_t> update_windows(const std::string& session,
                                      const std::vector<int64_t>& closed,
                                      const std::vector<WindowInfo>& opened, int64_t ms);
  /// From `ms` on, `window` (a display_windows id; none: no window) has the keyboard focus.
  void set_focus(const std::string& session, std::optional<int64_t> window, int64_t ms);
  /// Appearances of lines matching every word and phrase of the query, best match first,
  /// each once however many ways it was read (see merge_appearances).
  std::vector<TextHit> search(const TextQuery& query);
  /// search() for `text` in `session` (empty: all sessions), at most `limit` hits.
  std::vector<TextHit> search(const std::string& text, const std::string& session, int limit);

  db::Catalog& catalog() { return catalog_; }

 private:
  // The first segment of `session` in the order and condition `where` (SQL over `s`,
  // with one ? bound to `time_ms`).
  std::optional<SegmentRow> one_segment(const std::string& where, const std::string& session,
                                        int64_t time_ms);

  // The last text id a search ending at `to_ms` has to look at (see the .cpp).
  int64_t last_id_before(std::optional<int64_t> to_ms);

  db::Catalog catalog_;
};

/// Turns free text into an FTS5 query that cannot be a syntax error: each word becomes a
/// quoted prefix term, the words of a "quoted phrase" one phrase ending in a prefix (an
/// unclosed quote runs to the end). Returns "" when the text holds no word.
std::string fts_query(const std::string& text);

/// The whole FTS5 query of `q`: its words in the text columns, its application and
/// window title in theirs. Returns "" when the text, or a filter given, holds no word.
std::string fts_match(const TextQuery& q);

}  // namespace deja::display
