// Decodes frames back out of a recorded segment (or any single-video-stream file).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
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

/// Asked before each frame a read decodes: true when the moment is no longer wanted (the
/// cursor moved on), and the read stops with Superseded. What it decoded so far is kept.
using Abandon = std::function<bool()>;

/// A read given up because its Abandon said so. Not an Error: nothing failed.
struct Superseded : std::exception {
  const char* what() const noexcept override { return "the frame is no longer wanted"; }
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
  /// The last frame at or before `pts_ms`, decoded from the keyframe at or before
  /// `key_pts_ms` (default: found by the container index). Throws when the file has no
  /// frame at or before `pts_ms`. A reader asked again in the same keyframe run decodes
  /// only what it has not decoded yet (see Run); `abandon` may stop it between frames.
  DecodedFrame frame_at(int64_t pts_ms, const Abandon& abandon = {}, int64_t key_pts_ms = -1);
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
  std::optional<DecodedFrame> growing_frame_at(int64_t pts_ms, const Abandon& abandon = {});
  /// Lets go of the frames kept from the last keyframe run (memory), see Run.
  void forget_run();
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
  // Moves the demuxer only; the decoder and the kept run stay as they are.
  void seek_demuxer(int64_t pts_ms);
  // The packets from the current position up to `target` (stream time base), from the last
  // keyframe among them; stops at a cut-off or damaged packet (a file being written).
  std::vector<AvPacketPtr> packets_to(int64_t target);
  // The last frame of `packets` (a keyframe run from its start), decoded or kept.
  const AVFrame* decode_run(const std::vector<AvPacketPtr>& packets, const Abandon& abandon);
  const AVFrame* kept(int64_t pts) const;
  void receive_into_run();

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
  // The frames decoded from the keyframe run read last, in order, and how many of its
  // packets the decoder has had: a scrubber asks for moments near each other, mostly in
  // the same run (at most 2 s, ~10 frames), so a moment there, again or later, costs no
  // decoding of the frames before it, and an abandoned read loses nothing. The
  // recorder's video has no frame reordering; for other files the decoder is drained and
  // the run cannot be continued (`sent` = kDrained).
  struct Run {
    int64_t key = -1;  // pts of its keyframe (stream time base); -1: none
    size_t sent = 0;
    std::vector<AvFramePtr> frames;
  };
  static constexpr size_t kDrained = SIZE_MAX;
  Run run_;
};

}  // namespace deja::display
