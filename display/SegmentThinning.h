// Thinning a finished screen segment: a copy of its file that keeps only some of its frames,
// packet for packet (no decoding, no encoding), for retention (docs/storage.md).
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace deja::display {

/// Writes to `tmp` a copy of the segment file at `path` holding only the frames whose
/// pts (milliseconds) is in `keep_pts`, moved earlier by the first of them (so the copy
/// starts at pts 0, as every segment does), fsynced; returns the copy's size. The caller
/// keeps every frame a kept frame decodes from (back to its keyframe).
int64_t copy_kept_frames(const std::string& path, const std::set<int64_t>& keep_pts,
                         const std::string& tmp);

}  // namespace deja::display
