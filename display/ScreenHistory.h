// A session's recorded screen as a function of time: the frame at any moment, from the
// finished segments and from the one still being recorded, or why there is none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "display/DisplayIndex.h"
#include "display/Frame.h"
#include "display/SegmentReaders.h"

namespace deja::display {

/// The answer for one moment. Either `frame` is set, or `miss` says why not.
struct ScreenAt {
  enum class Miss {
    none,          // `frame` shows the moment
    never,         // the session has no recorded screen at all (--no-display)
    before_first,  // earlier than the first recorded frame (at `first_ms`)
    gap,           // recording stopped (`gap_from_ms`) and resumed later (`gap_to_ms`)
  };
  std::optional<Frame> frame;
  int64_t frame_ms = 0;  // Unix ms of the frame shown (the last change at or before)
  Miss miss = Miss::none;
  int64_t first_ms = 0;
  int64_t gap_from_ms = 0;
  std::optional<int64_t> gap_to_ms;  // none: recording has not resumed since
};

/// Looks frames up in a store's recordings. One per thread (it owns a catalog connection
/// through `index`). Segments left open by dead recorders should be recovered first
/// (recover_open_segments); a segment whose recorder is alive is read as it grows.
/// Keep one for many lookups (a scrubber): it keeps the last segments read open.
class ScreenHistory {
 public:
  ScreenHistory(DisplayIndex& index, std::string recordings_dir)
      : index_(index), readers_(std::move(recordings_dir)) {}

  /// The screen of `session` at Unix millisecond `time_ms`. `abandon` is asked between
  /// decoded frames; when it says so, the read throws Superseded (what it decoded is kept
  /// for the next moment in the same keyframe run).
  ScreenAt at(const std::string& session, int64_t time_ms, const Abandon& abandon = {});

 private:
  std::optional<ScreenAt> from_open_segment(const SegmentRow& segment, int64_t time_ms,
                                            const Abandon& abandon);
  ScreenAt miss(const std::string& session, int64_t time_ms,
                const std::optional<FrameLocation>& before);

  DisplayIndex& index_;
  SegmentReaders readers_;
};

}  // namespace deja::display
