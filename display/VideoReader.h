// Decodes frames back out of a recorded segment (or any single-video-stream file).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "display/AvHandles.h"
#include "display/Frame.h"

namespace deja::display {

struct DecodedFrame {
  int64_t pts_ms = 0;
  Frame frame;
};

/// A video file open for decoding, positioned at its start.
class VideoReader {
 public:
  explicit VideoReader(const std::string& path);
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  /// The next frame in presentation order, or nothing at the end of the file.
  std::optional<DecodedFrame> next();
  /// Moves to the last keyframe at or before `pts_ms` (the container index finds it).
  void seek(int64_t pts_ms);
  /// The last frame at or before `pts_ms`, decoded from the keyframe before it.
  /// Throws when the file has no frame at or before `pts_ms`.
  DecodedFrame frame_at(int64_t pts_ms);
  /// Decodes on from the current position (after seek()) and returns the last frame at
  /// or before `pts_ms`; throws when there is none.
  DecodedFrame decode_until(int64_t pts_ms);
  /// For a file its writer is still appending to (a segment being recorded: no index
  /// yet, maybe half a frame at its end): reads packets from the current position
  /// without decoding them, keeps those from the last keyframe at or before `pts_ms`,
  /// and decodes only those. A cut-off or damaged packet counts as the end of the file.
  /// Returns nothing when the file holds no frame at or before `pts_ms` yet. The
  /// reader's position afterwards is unspecified (seek() before reading on). Keep the
  /// reader for the next moment: from the second call on it seeks by the keyframes it has
  /// read past instead of demuxing from the start, and reads what was appended since.
  std::optional<DecodedFrame> growing_frame_at(int64_t pts_ms);
  /// The times (ms) of the frames after `after_ms` to the end, read from their packets
  /// without decoding; for a file still being written, up to its last whole frame. With
  /// `after_ms` < 0 it reads on from the current position (a fresh reader: the start). For
  /// a growing file keep the reader and pass the last time it returned: it seeks back to
  /// the keyframe before that and demuxes only from there.
  std::vector<int64_t> packet_times(int64_t after_ms = -1);

 private:
  // The next decoded picture, still in the codec's format (converting costs more than
  // decoding, so only the frames handed out are converted).
  AvFramePtr next_raw();
  int64_t pts_of(const AVFrame& f) const;
  Frame to_bgrx(const AVFrame& f);

  std::string path_;
  AvInputPtr in_;
  AvCodecContextPtr dec_;
  AvPacketPtr pkt_;
  AvFramePtr frame_;
  SwsContextPtr sws_;
  std::vector<uint8_t> padded_;  // conversion output for widths that are no multiple of 16
  int stream_ = -1;
  bool eof_ = false;
  int growing_reads_ = 0;  // growing_frame_at calls so far
  // The frame decode_until() read past its target, handed out first by next().
  AvFramePtr lookahead_;
};

}  // namespace deja::display
