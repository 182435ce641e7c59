// Bringing back what a killed recorder left: a segment file cut off mid-write, with no
// container index, still marked open in the catalog.
#pragma once

#include <string>
#include <vector>

#include "display/AvHandles.h"
#include "display/VideoWriter.h"

namespace deja::display {

class DisplayIndex;

/// Writes `packets` (of stream `stream` of `in`, in order) into a new Matroska file at
/// `tmp` with a proper index, fsynced; returns their frames. On failure nothing is left
/// at `tmp`. Recovery and thinning write their copies with it, then rename.
std::vector<WrittenFrame> write_segment_copy(AVFormatContext* in, int stream,
                                             std::vector<AvPacketPtr>& packets,
                                             const std::string& tmp);

/// Rewrites the Matroska file at `path` with every frame that still decodes, in order, up
/// to the first damaged one, and a proper index; returns those frames. Returns nothing
/// (and leaves the file alone) when not even the first frame survives.
std::vector<WrittenFrame> salvage_segment(const std::string& path);

/// Recovers or drops every segment of the catalog still marked open whose writer is gone
/// (a live writer holds an flock on its file). `recordings_dir` is the store's
/// recordings folder the segment paths are relative to. Returns how many it handled.
int recover_open_segments(DisplayIndex& index, const std::string& recordings_dir);

}  // namespace deja::display
