#include "display/VideoReader.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/Error.h"

namespace deja::display {

VideoReader::VideoReader(const std::string& path) : path_(path) {
  quiet_ffmpeg_logs();
  AVFormatContext* ic = nullptr;
  check_av(ffmpeg().avformat_open_input(&ic, path.c_str(), nullptr, nullptr), "open video", path);
  in_.reset(ic);
  check_av(ffmpeg().avformat_find_stream_info(in_.get(), nullptr), "read streams of", path);
  const AVCodec* codec = nullptr;
  stream_ = ffmpeg().av_find_best_stream(in_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  check_av(stream_, "find video stream in", path);
  dec_.reset(ffmpeg().avcodec_alloc_context3(codec));
  check_av(ffmpeg().avcodec_parameters_to_context(dec_.get(), in_->streams[stream_]->codecpar),
           "set up decoder for", path);
  dec_->pkt_timebase = in_->streams[stream_]->time_base;
  // One thread: frames are wanted one at a time and as soon as possible, and frame
  // threading would add a frame of delay per thread.
  dec_->thread_count = 1;
  check_av(ffmpeg().avcodec_open2(dec_.get(), codec, nullptr), "open decoder for", path);
  pkt_ = alloc_packet();
  frame_ = alloc_frame();
}

std::optional<DecodedFrame> VideoReader::next() {
  AvFramePtr f = next_raw();
  if (!f) return std::nullopt;
  return DecodedFrame{pts_of(*f), to_bgrx(*f)};
}

int64_t VideoReader::pts_of(const AVFrame& f) const {
  return ffmpeg().av_rescale_q(f.best_effort_timestamp, in_->streams[stream_]->time_base,
                               AVRational{1, 1000});
}

AvFramePtr VideoReader::next_raw() {
  if (lookahead_) return std::move(lookahead_);
  if (run_.key >= 0) {
    // Reading on from a kept run: the decoder was left in the middle of it.
    ffmpeg().avcodec_flush_buffers(dec_.get());
    run_ = Run{};
  }
  for (;;) {
    int r = ffmpeg().avcodec_receive_frame(dec_.get(), frame_.get());
    if (r == 0) {
      AvFramePtr out = alloc_frame();
      ffmpeg().av_frame_move_ref(out.get(), frame_.get());
      return out;
    }
    if (r == AVERROR_EOF) return nullptr;
    if (r != AVERROR(EAGAIN)) check_av(r, "decode", path_);
    if (eof_) {
      check_av(ffmpeg().avcodec_send_packet(dec_.get(), nullptr), "drain decoder of", path_);
      continue;
    }
    r = ffmpeg().av_read_frame(in_.get(), pkt_.get());
    if (r == AVERROR_EOF) {
      eof_ = true;
      continue;
    }
    check_av(r, "read", path_);
    if (pkt_->stream_index == stream_) r = ffmpeg().avcodec_send_packet(dec_.get(), pkt_.get());
    ffmpeg().av_packet_unref(pkt_.get());
    check_av(r, "decode", path_);
  }
}

void VideoReader::seek(int64_t pts_ms) {
  seek_demuxer(pts_ms);
  forget_run();
  eof_ = false;
  lookahead_.reset();
}

void VideoReader::seek_demuxer(int64_t pts_ms) {
  const AVRational tb = in_->streams[stream_]->time_base;
  int64_t ts = ffmpeg().av_rescale_q(pts_ms, AVRational{1, 1000}, tb);
  check_av(ffmpeg().av_seek_frame(in_.get(), stream_, ts, AVSEEK_FLAG_BACKWARD), "seek in", path_);
}

void VideoReader::forget_run() {
  ffmpeg().avcodec_flush_buffers(dec_.get());
  run_ = Run{};
}

DecodedFrame VideoReader::frame_at(int64_t pts_ms, const Abandon& abandon, int64_t key_pts_ms) {
  seek_demuxer(key_pts_ms >= 0 ? key_pts_ms : pts_ms);
  eof_ = false;
  lookahead_.reset();
  const AVRational tb = in_->streams[stream_]->time_base;
  const AVFrame* f =
      decode_run(packets_to(ffmpeg().av_rescale_q(pts_ms, AVRational{1, 1000}, tb)), abandon);
  if (!f) throw Error(path_ + ": no frame at or before " + std::to_string(pts_ms) + " ms");
  return DecodedFrame{pts_of(*f), to_bgrx(*f)};
}

DecodedFrame VideoReader::decode_until(int64_t pts_ms) {
  AvFramePtr best;
  while (AvFramePtr f = next_raw()) {
    if (pts_of(*f) > pts_ms) {
      lookahead_ = std::move(f);
      break;
    }
    best = std::move(f);
  }
  if (!best) throw Error(path_ + ": no frame at or before " + std::to_string(pts_ms) + " ms");
  return DecodedFrame{pts_of(*best), to_bgrx(*best)};
}

std::optional<DecodedFrame> VideoReader::growing_frame_at(int64_t pts_ms, const Abandon& abandon) {
  const AVRational tb = in_->streams[stream_]->time_base;
  // The demuxer indexes every keyframe it reads past, so a reader asked again seeks to the
  // last keyframe it knows at or before the target; for a target past that it parses on
  // from there (seeking also clears the end-of-file state, so what the writer appended
  // since is read). A fresh reader is at the start already, with nothing indexed.
  if (growing_reads_++ > 0) seek_demuxer(pts_ms);
  eof_ = false;
  lookahead_.reset();
  const AVFrame* f =
      decode_run(packets_to(ffmpeg().av_rescale_q(pts_ms, AVRational{1, 1000}, tb)), abandon);
  if (!f) return std::nullopt;
  return DecodedFrame{pts_of(*f), to_bgrx(*f)};
}

std::vector<AvPacketPtr> VideoReader::packets_to(int64_t target) {
  // Demuxing is cheap next to decoding; at most a keyframe interval's worth is decoded.
  std::vector<AvPacketPtr> run;
  for (;;) {
    AvPacketPtr pkt = alloc_packet();
    if (ffmpeg().av_read_frame(in_.get(), pkt.get()) < 0)
      break;  // the end, or a half-written frame
    if (pkt->stream_index != stream_) continue;
    if ((pkt->flags & AV_PKT_FLAG_CORRUPT) || pkt->pts == AV_NOPTS_VALUE || pkt->pts > target)
      break;
    if (pkt->flags & AV_PKT_FLAG_KEY) run.clear();
    if (!run.empty() || (pkt->flags & AV_PKT_FLAG_KEY)) run.push_back(std::move(pkt));
  }
  return run;
}

const AVFrame* VideoReader::kept(int64_t pts) const {
  for (const AvFramePtr& f : run_.frames)
    if (f->best_effort_timestamp == pts) return f.get();
  return nullptr;
}

void VideoReader::receive_into_run() {
  // About 12 MB at 1280x800: a run of the recorder's (2 s at 5 frames a second) fits.
  constexpr size_t kKeptFrames = 12;
  for (;;) {
    AvFramePtr f = alloc_frame();
    if (ffmpeg().avcodec_receive_frame(dec_.get(), f.get()) < 0) return;
    run_.frames.push_back(std::move(f));
    if (run_.frames.size() > kKeptFrames) run_.frames.erase(run_.frames.begin());
  }
}

const AVFrame* VideoReader::decode_run(const std::vector<AvPacketPtr>& packets,
                                       const Abandon& abandon) {
  if (packets.empty()) return nullptr;
  int64_t want = packets[0]->pts;  // the frame asked for: the run's latest
  for (const AvPacketPtr& p : packets) want = std::max(want, p->pts);
  if (const AVFrame* f = kept(want); f && run_.key == packets[0]->pts) return f;
  // Continue the kept run when the decoder is still inside it, before the frame wanted.
  if (run_.key != packets[0]->pts || run_.sent >= packets.size()) {
    forget_run();
    run_.key = packets[0]->pts;
  }
  while (run_.sent < packets.size()) {
    if (abandon && abandon()) throw Superseded();
    // A damaged packet ends the run, as a cut-off one does: the frames before it stand.
    if (ffmpeg().avcodec_send_packet(dec_.get(), packets[run_.sent].get()) < 0) break;
    ++run_.sent;
    receive_into_run();
    if (const AVFrame* f = kept(want)) return f;
  }
  // The decoder holds frames back (reordering) or a packet failed: drain it.
  if (ffmpeg().avcodec_send_packet(dec_.get(), nullptr) == 0) receive_into_run();
  run_.sent = kDrained;
  const AVFrame* best = nullptr;
  for (const AvFramePtr& f : run_.frames)
    if (f->best_effort_timestamp <= want &&
        (!best || f->best_effort_timestamp > best->best_effort_timestamp))
      best = f.get();
  return best;
}

std::vector<int64_t> VideoReader::packet_times(int64_t after_ms) {
  const AVRational tb = in_->streams[stream_]->time_base;
  // Seeking also clears the end-of-file state, so what was appended since is read.
  if (after_ms >= 0) seek(after_ms);
  std::vector<int64_t> times;
  // As growing_frame_at: a failed read is the end, or a frame the writer has not finished.
  while (ffmpeg().av_read_frame(in_.get(), pkt_.get()) >= 0) {
    const bool whole = !(pkt_->flags & AV_PKT_FLAG_CORRUPT) && pkt_->pts != AV_NOPTS_VALUE;
    const int64_t ms = whole ? ffmpeg().av_rescale_q(pkt_->pts, tb, AVRational{1, 1000}) : 0;
    if (pkt_->stream_index == stream_ && whole && ms > after_ms) times.push_back(ms);
    ffmpeg().av_packet_unref(pkt_.get());
    if (!whole) break;
  }
  return times;
}

Frame VideoReader::to_bgrx(const AVFrame& f) {
  sws_.reset(ffmpeg().sws_getCachedContext(sws_.release(), f.width, f.height,
                                           static_cast<AVPixelFormat>(f.format), f.width, f.height,
                                           AV_PIX_FMT_BGR0, SWS_POINT, nullptr, nullptr, nullptr));
  if (!sws_) throw Error("set up colour conversion for " + path_);
  Frame out(f.width, f.height);
  // swscale's vector code writes whole blocks of pixels, past the end of a row that is no
  // multiple of 16 pixels: such frames are converted with room to spare, then copied.
  const size_t tight = out.stride(), room = (tight + 63) / 64 * 64;
  if (f.width % 16 == 0) {
    uint8_t* dst[1] = {out.bgrx.data()};
    const int dst_stride[1] = {static_cast<int>(tight)};
    ffmpeg().sws_scale(sws_.get(), f.data, f.linesize, 0, f.height, dst, dst_stride);
    return out;
  }
  padded_.resize(room * (size_t(f.height) + 1));
  uint8_t* dst[1] = {padded_.data()};
  const int dst_stride[1] = {static_cast<int>(room)};
  ffmpeg().sws_scale(sws_.get(), f.data, f.linesize, 0, f.height, dst, dst_stride);
  for (int y = 0; y < f.height; ++y)
    std::memcpy(out.row(y), padded_.data() + size_t(y) * room, tight);
  return out;
}

}  // namespace deja::display
