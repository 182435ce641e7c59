// Turns what `deja ... --json` prints into the timeline's types. Strict: a missing field or a
// field of the wrong type is an error naming it, so a contract change shows up as a message
// in the status bar rather than as zeros on screen.
#pragma once

#include <QByteArray>
#include <QRect>
#include <QString>
#include <vector>

#include "ui/Timeline.h"

namespace deja::ui {

/// A parsed value, or why the text could not be parsed (then `value` is empty).
template <typename T>
struct Parsed {
  T value{};
  QString error;
  bool ok() const { return error.isEmpty(); }
};

/// One on-screen text match from `deja search --json`.
struct SearchHit {
  QString session;
  double t = 0;
  QString time;
  QString text;
  QRect box;
};

/// `deja sessions --json`: [{id, name, state, started, parent, parent_crid, checkpoints}].
Parsed<std::vector<SessionInfo>> parse_sessions(const QByteArray& json);
/// `deja checkpoints SESSION --json`: [{crid, t, time, fsid, image_bytes, pages_written,
/// downtime_ms, downtime_parts}].
Parsed<std::vector<Checkpoint>> parse_checkpoints(const QByteArray& json);
/// `deja search QUERY --json`: [{session, t, time, text, x, y, w, h}], best first.
Parsed<std::vector<SearchHit>> parse_search_hits(const QByteArray& json);

}  // namespace deja::ui
