// Owning handles for FFmpeg objects, so every context, frame and packet is released on
// every path (FFmpeg's own API is C with manual *_free calls).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "display/MediaLibs.h"  // FFmpeg's headers; its functions through ffmpeg()

namespace deja::display {

struct AvCodecContextFree {
  void operator()(AVCodecContext* c) const { ffmpeg().avcodec_free_context(&c); }
};
struct AvFrameFree {
  void operator()(AVFrame* f) const { ffmpeg().av_frame_free(&f); }
};
struct AvPacketFree {
  void operator()(AVPacket* p) const { ffmpeg().av_packet_free(&p); }
};
struct SwsContextFree {
  void operator()(SwsContext* s) const { ffmpeg().sws_freeContext(s); }
};
/// A demuxer opened with avformat_open_input.
struct AvInputClose {
  void operator()(AVFormatContext* f) const { ffmpeg().avformat_close_input(&f); }
};
/// A muxer: closes its file (if opened) and frees the context. Does not write a trailer;
/// a muxer dropped without one leaves the file as a crash would, which recovery handles.
struct AvOutputClose {
  void operator()(AVFormatContext* f) const {
    if (f->pb && !(f->oformat->flags & AVFMT_NOFILE)) ffmpeg().avio_closep(&f->pb);
    ffmpeg().avformat_free_context(f);
  }
};

using AvCodecContextPtr = std::unique_ptr<AVCodecContext, AvCodecContextFree>;
using AvFramePtr = std::unique_ptr<AVFrame, AvFrameFree>;
using AvPacketPtr = std::unique_ptr<AVPacket, AvPacketFree>;
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextFree>;
using AvInputPtr = std::unique_ptr<AVFormatContext, AvInputClose>;
using AvOutputPtr = std::unique_ptr<AVFormatContext, AvOutputClose>;

/// Throws for a negative FFmpeg status: a SysError when it wraps an errno (so callers can
/// tell ENOSPC apart), an Error with FFmpeg's text otherwise.
void check_av(int status, std::string_view op, std::string_view object);

/// Silences FFmpeg's own logging (once per process): failures reach users as the errors
/// check_av throws, and recovering a cut-off file is expected, not worth a warning.
void quiet_ffmpeg_logs();

AvFramePtr alloc_frame();
AvPacketPtr alloc_packet();

}  // namespace deja::display
