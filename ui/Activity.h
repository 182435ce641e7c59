// Screen activity of a session for the timeline: how many recorded frames (screen changes;
// the recorder writes a frame only when the screen changed) fall in each second.
#pragma once

#include <string>
#include <vector>

namespace deja::ui {

/// Frames of `session` per second from Unix time `started` on (element i: frames in
/// [started + i, started + i + 1)), read from the catalog's frame rows at `catalog`. The
/// segment being recorded has no rows until it is finished (at most a minute), so its
/// seconds count none yet. Empty when the session has no recorded frame. Throws an Error
/// when the catalog cannot be read.
std::vector<int> screen_changes_per_second(const std::string& catalog,
                                           const std::string& session, double started);

}  // namespace deja::ui
