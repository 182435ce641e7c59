// Screen activity of a session for the timeline: how many recorded frames (screen changes;
// the recorder writes a frame only when the screen changed) fall in each second, and the
// gaps in which nothing was recorded.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace deja::ui {

/// The times of `session`'s recorded frames, in seconds since Unix time `started`, oldest
/// first, read from the catalog's frame rows at `catalog`. The segment being recorded has no
/// rows until it is finished (at most a minute), so its frames are not there yet. Throws an
/// Error when the catalog cannot be read.
std::vector<double> recorded_frame_times(const std::string& catalog, const std::string& session,
                                         double started);

/// A stretch with nothing recorded (catalog table recording_gaps, docs/service.md), in
/// seconds since the session started.
struct RecordingGap {
  double from = 0;
  std::optional<double> to;  // unset while it lasts
  std::string reason;        // "unrecorded" (no recorder) or "paused"
  bool operator==(const RecordingGap&) const = default;
};

/// The session's gaps, oldest first, from the catalog at `catalog` (none from a catalog
/// older than the table). Throws an Error when the catalog cannot be read.
std::vector<RecordingGap> recording_gaps(const std::string& catalog, const std::string& session,
                                         double started);

/// Frames per second: element i counts the `times` in [i, i + 1).
std::vector<int> per_second(const std::vector<double>& times);

}  // namespace deja::ui
