#include "display/VideoWriter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

extern "C" {
#include <libavutil/opt.h>
}

#include "base/Error.h"
#include "base/ScopedFd.h"

namespace deja::display {
namespace {
constexpr AVRational kMillis{1, 1000};
// Rows converted to YUV together: the change detector's tile height (even, as 4:2:0 needs).
constexpr int kBandRows = 16;
}  // namespace

VideoWriter::VideoWriter(const std::string& path, int width, int height,
                         const VideoSettings& settings)
    : path_(path), settings_(settings), width_(width & ~1), height_(height & ~1) {
  quiet_ffmpeg_logs();
  if (width_ <= 0 || height_ <= 0) throw Error(path + ": cannot encode an empty screen");
  AVFormatContext* oc = nullptr;
  check_av(ffmpeg().avformat_alloc_output_context2(&oc, nullptr, nullptr, path.c_str()),
           "choose container for", path);
  out_.reset(oc);

  const AVCodec* codec = ffmpeg().avcodec_find_encoder_by_name("libx264");
  if (!codec) throw Error("FFmpeg was built without libx264; cannot encode " + path);
  enc_.reset(ffmpeg().avcodec_alloc_context3(codec));
  enc_->width = width_;
  enc_->height = height_;
  enc_->pix_fmt = AV_PIX_FMT_YUV420P;
  enc_->time_base = kMillis;
  // Keyframes are forced by the caller on its own clock (the frame rate is variable),
  // so x264's own GOP limit is only a backstop.
  enc_->gop_size = 600;
  enc_->max_b_frames = 0;
  enc_->colorspace = AVCOL_SPC_BT470BG;  // what swscale's default conversion uses
  enc_->color_range = AVCOL_RANGE_MPEG;
  if (out_->oformat->flags & AVFMT_GLOBALHEADER) enc_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  // zerolatency: every frame comes out of the encoder at once (no lookahead), so what the
  // recorder saw is on disk right away; stillimage: tuned for sharp, static content.
  ffmpeg().av_opt_set(enc_->priv_data, "preset", "veryfast", 0);
  ffmpeg().av_opt_set(enc_->priv_data, "tune", "stillimage,zerolatency", 0);
  ffmpeg().av_opt_set_int(enc_->priv_data, "crf", settings.crf, 0);
  ffmpeg().av_opt_set_int(enc_->priv_data, "forced-idr", 1, 0);
  check_av(ffmpeg().avcodec_open2(enc_.get(), codec, nullptr), "open H.264 encoder for", path);

  stream_ = ffmpeg().avformat_new_stream(out_.get(), nullptr);
  if (!stream_) throw Error("add a video stream to " + path + ": out of memory");
  stream_->time_base = kMillis;
  check_av(ffmpeg().avcodec_parameters_from_context(stream_->codecpar, enc_.get()),
           "set up stream of", path);
  check_av(ffmpeg().avio_open(&out_->pb, path.c_str(), AVIO_FLAG_WRITE), "create", path);
  check_av(ffmpeg().avformat_write_header(out_.get(), nullptr), "write header of", path);
  if (settings_.flush_every_frame) ffmpeg().avio_flush(out_->pb);

  yuv_ = alloc_frame();
  yuv_->format = enc_->pix_fmt;
  yuv_->width = width_;
  yuv_->height = height_;
  check_av(ffmpeg().av_frame_get_buffer(yuv_.get(), 0), "allocate frame for", path);
  pkt_ = alloc_packet();
  // Each band is converted as an image of its own (no scaling: nothing crosses bands).
  auto band = [&](int rows) {
    return SwsContextPtr(ffmpeg().sws_getContext(width_, rows, AV_PIX_FMT_BGR0, width_, rows,
                                                 AV_PIX_FMT_YUV420P, SWS_POINT, nullptr, nullptr,
                                                 nullptr));
  };
  band_sws_ = band(std::min(kBandRows, height_));
  last_band_sws_ = band(height_ - (height_ - 1) / kBandRows * kBandRows);
  if (!band_sws_ || !last_band_sws_) throw Error("set up colour conversion for " + path);
}

void VideoWriter::convert_band(const Frame& frame, int y) {
  const bool last = y + kBandRows >= height_;
  const int rows = last ? height_ - y : kBandRows;
  const uint8_t* src[1] = {frame.row(y)};
  const int src_stride[1] = {static_cast<int>(frame.stride())};
  uint8_t* dst[3] = {yuv_->data[0] + size_t(y) * size_t(yuv_->linesize[0]),
                     yuv_->data[1] + size_t(y / 2) * size_t(yuv_->linesize[1]),
                     yuv_->data[2] + size_t(y / 2) * size_t(yuv_->linesize[2])};
  ffmpeg().sws_scale((last ? last_band_sws_ : band_sws_).get(), src, src_stride, 0, rows, dst,
                     yuv_->linesize);
}

void VideoWriter::write(const Frame& frame, int64_t pts_ms, bool key,
                        const std::vector<Rect>* changed) {
  DEJA_CHECK(frame.width >= width_ && frame.height >= height_);
  DEJA_CHECK(frames_.empty() || pts_ms > frames_.back().pts_ms);
  // Keeps the last frame's pixels (copying them if the encoder still holds the buffer).
  check_av(ffmpeg().av_frame_make_writable(yuv_.get()), "reuse frame for", path_);
  // Converting a whole screen costs more than encoding what changed in it: only the bands
  // that changed are converted, the rest is the frame before.
  std::vector<char> bands(size_t((height_ + kBandRows - 1) / kBandRows), !changed || !converted_);
  if (changed && converted_)
    for (const Rect& r : *changed)
      for (size_t b = size_t(std::max(r.y, 0) / kBandRows);
           b < bands.size() && int(b) * kBandRows < r.bottom(); ++b)
        bands[b] = 1;
  for (size_t b = 0; b < bands.size(); ++b)
    if (bands[b]) convert_band(frame, int(b) * kBandRows);
  converted_ = true;
  yuv_->pts = pts_ms;
  yuv_->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
  check_av(ffmpeg().avcodec_send_frame(enc_.get(), yuv_.get()), "encode frame for", path_);
  drain(false);
}

void VideoWriter::drain(bool flushing) {
  for (;;) {
    int r = ffmpeg().avcodec_receive_packet(enc_.get(), pkt_.get());
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
    check_av(r, "encode frame for", path_);
    frames_.push_back({pkt_->pts, (pkt_->flags & AV_PKT_FLAG_KEY) != 0});
    // Frames last until the next one, which is not known yet. MP4 takes each sample's
    // duration from the next timestamp but drops a last sample of duration 0; one
    // millisecond keeps it (a clip that must show it longer repeats it at its end).
    if (pkt_->duration <= 0) pkt_->duration = 1;
    ffmpeg().av_packet_rescale_ts(pkt_.get(), enc_->time_base, stream_->time_base);
    pkt_->stream_index = stream_->index;
    r = ffmpeg().av_write_frame(out_.get(), pkt_.get());
    ffmpeg().av_packet_unref(pkt_.get());
    check_av(r, "write frame to", path_);
    if (settings_.flush_every_frame && !flushing) {
      // A null packet makes the Matroska muxer close its cluster and hand it to avio.
      check_av(ffmpeg().av_write_frame(out_.get(), nullptr), "flush", path_);
      ffmpeg().avio_flush(out_->pb);
      check_av(out_->pb->error, "write", path_);
    }
  }
}

void VideoWriter::finish() {
  check_av(ffmpeg().avcodec_send_frame(enc_.get(), nullptr), "flush encoder for", path_);
  drain(true);
  check_av(ffmpeg().av_write_trailer(out_.get()), "finish", path_);
  check_av(ffmpeg().avio_closep(&out_->pb), "close", path_);
  ScopedFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync", path_);
}

}  // namespace deja::display
