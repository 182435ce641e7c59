// Encodes screen frames with libx264 into a video file (Matroska segments while recording,
// MP4 for exports) with real, variable timestamps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "display/AvHandles.h"
#include "display/Frame.h"
#include "display/Rect.h"

namespace deja::display {

/// One frame as it was written to a file: its timestamp and whether it starts a GOP.
struct WrittenFrame {
  int64_t pts_ms = 0;
  bool key = false;
};

struct VideoSettings {
  /// x264 constant-rate factor: 0 lossless .. 51 worst. 20 keeps xterm's small fonts
  /// readable to Tesseract (checked by tests/display) at a few kB per changed frame.
  int crf = 20;
  /// Write each frame through to the file as its own Matroska cluster, so a killed
  /// recorder loses at most the frame being written.
  bool flush_every_frame = false;
};

/// A file being written. Frames must come with strictly increasing timestamps.
/// Dropping a writer without finish() leaves the file as a crash would (no index).
class VideoWriter {
 public:
  /// The container follows the file name (.mkv, .mp4). Odd sizes lose their last
  /// column/row: 4:2:0 video needs even dimensions.
  VideoWriter(const std::string& path, int width, int height, const VideoSettings& settings);
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  /// Encodes `frame` (same size as given at construction) at `pts_ms`; `key` forces an
  /// IDR frame so decoding can start there. `changed`: where `frame` differs from the
  /// frame written before (the recorder knows its changed tiles); only those rows are
  /// converted to the encoder's colours again. None: the whole frame.
  void write(const Frame& frame, int64_t pts_ms, bool key,
             const std::vector<Rect>* changed = nullptr);
  /// Drains the encoder, writes the container index and fsyncs the file.
  void finish();

  const std::vector<WrittenFrame>& frames() const { return frames_; }
  const std::string& path() const { return path_; }

 private:
  void drain(bool flushing);
  void convert_band(const Frame& frame, int y);

  std::string path_;
  VideoSettings settings_;
  int width_ = 0, height_ = 0;
  AvOutputPtr out_;
  AvCodecContextPtr enc_;
  AvFramePtr yuv_;
  AvPacketPtr pkt_;
  SwsContextPtr band_sws_, last_band_sws_;  // the bands of kBandRows, and the last one
  bool converted_ = false;                  // yuv_ holds the frame written before
  AVStream* stream_ = nullptr;
  std::vector<WrittenFrame> frames_;
};

}  // namespace deja::display
