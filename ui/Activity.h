// Screen activity of a session for the timeline: how many recorded frames (screen changes;
// the recorder writes a frame only when the screen changed) fall in each second.
#pragma once

#include <string>
#include <vector>

namespace deja::ui {

/// The times of `session`'s recorded frames, in seconds since Unix time `started`, oldest
/// first, read from the catalog's frame rows at `catalog`. The segment being recorded has no
/// rows until it is finished (at most a minute), so its frames are not there yet. Throws an
/// Error when the catalog cannot be read.
std::vector<double> recorded_frame_times(const std::string& catalog, const std::string& session,
                                         double started);

/// Frames per second: element i counts the `times` in [i, i + 1).
std::vector<int> per_second(const std::vector<double>& times);

}  // namespace deja::ui
