#include "display/ScreenHistory.h"

#include <climits>

#include "base/Error.h"
#include "display/VideoReader.h"

namespace deja::display {

ScreenAt ScreenHistory::at(const std::string& session, int64_t time_ms, const Abandon& abandon) {
  std::optional<FrameLocation> done = index_.frame_at(session, time_ms);
  // Segments never overlap, so an open segment that started after the last finished one
  // holds the moment; it is read from its file, which its recorder flushes frame by frame.
  std::optional<SegmentRow> open = index_.open_segment_at(session, time_ms);
  if (open && (!done || open->start_ms > done->segment.start_ms)) {
    if (auto found = from_open_segment(*open, time_ms, abandon)) return *found;
  }
  if (!done) return miss(session, time_ms, done);
  // A recovered segment ends where its recorder died or paused. When recording resumed
  // later (a new segment), the time between is a gap; after the last segment it may just
  // as well have been a still screen watched until the recorder died, so its last frame
  // stands.
  if (done->segment.state == "recovered" && done->segment.end_ms &&
      time_ms > *done->segment.end_ms && index_.segment_after(session, time_ms))
    return miss(session, time_ms, done);
  ScreenAt out;
  out.frame =
      readers_.get(done->segment.file).frame_at(done->pts_ms, abandon, done->key_pts_ms).frame;
  out.frame_ms = done->time_ms();
  return out;
}

std::optional<ScreenAt> ScreenHistory::from_open_segment(const SegmentRow& segment, int64_t time_ms,
                                                         const Abandon& abandon) {
  std::optional<DecodedFrame> f;
  try {
    f = readers_.get(segment.file).growing_frame_at(time_ms - segment.start_ms, abandon);
  } catch (const Error&) {
    // A kept reader that cannot seek any more: read the file afresh once.
    readers_.drop(segment.file);
    f = readers_.get(segment.file).growing_frame_at(time_ms - segment.start_ms, abandon);
  }
  if (!f) return std::nullopt;
  ScreenAt out;
  out.frame = std::move(f->frame);
  out.frame_ms = segment.start_ms + f->pts_ms;
  return out;
}

ScreenAt ScreenHistory::miss(const std::string& session, int64_t time_ms,
                             const std::optional<FrameLocation>& before) {
  ScreenAt out;
  std::optional<SegmentRow> first = index_.segment_after(session, INT64_MIN);
  if (!first) {
    out.miss = ScreenAt::Miss::never;
    return out;
  }
  if (!before || time_ms < first->start_ms) {
    out.miss = ScreenAt::Miss::before_first;
    out.first_ms = first->start_ms;
    return out;
  }
  out.miss = ScreenAt::Miss::gap;
  out.gap_from_ms = before->segment.end_ms.value_or(before->time_ms());
  if (auto next = index_.segment_after(session, time_ms)) out.gap_to_ms = next->start_ms;
  return out;
}

}  // namespace deja::display
