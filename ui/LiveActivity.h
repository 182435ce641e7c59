// The frame times of a session including the segment still being recorded, whose frames the
// catalog lists only once it is finished (up to a minute later): read from its file.
#pragma once

#include <string>
#include <vector>

namespace deja::ui {

/// recorded_frame_times() (catalog rows of finished segments) plus the frames of `session`'s
/// segments still open, from their packets in the files under `recordings` (demuxed, not
/// decoded; up to the last whole frame). Seconds since Unix time `started`, oldest first.
/// Throws an Error when the catalog or a file cannot be read.
std::vector<double> frame_times_with_open_segments(const std::string& catalog,
                                                   const std::string& recordings,
                                                   const std::string& session, double started);

}  // namespace deja::ui
