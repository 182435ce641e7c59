#include "display/SegmentRecovery.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/Error.h"
#include "base/ScopedFd.h"
#include "display/AvHandles.h"
#include "display/DisplayIndex.h"

namespace deja::display {
namespace {

// Packets of the file up to the first one that is cut off or does not decode.
std::vector<AvPacketPtr> good_packets(AVFormatContext* in, int stream, const std::string& path) {
  std::vector<AvPacketPtr> out;
  AVStream* st = in->streams[stream];
  const AVCodec* codec = ffmpeg().avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) return out;
  AvCodecContextPtr dec(ffmpeg().avcodec_alloc_context3(codec));
  check_av(ffmpeg().avcodec_parameters_to_context(dec.get(), st->codecpar), "set up decoder for",
           path);
  dec->thread_count = 1;
  check_av(ffmpeg().avcodec_open2(dec.get(), codec, nullptr), "open decoder for", path);
  AvFramePtr frame = alloc_frame();
  for (;;) {
    AvPacketPtr pkt = alloc_packet();
    if (ffmpeg().av_read_frame(in, pkt.get()) < 0) break;  // end of file or a truncated record
    if (pkt->stream_index != stream) continue;
    if (pkt->flags & AV_PKT_FLAG_CORRUPT) break;
    if (out.empty() && !(pkt->flags & AV_PKT_FLAG_KEY)) break;
    // Zero-latency encoding: each packet yields its frame at once, so a packet whose
    // frame does not come out is damaged.
    if (ffmpeg().avcodec_send_packet(dec.get(), pkt.get()) < 0) break;
    if (ffmpeg().avcodec_receive_frame(dec.get(), frame.get()) < 0) break;
    bool damaged = frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT);
    ffmpeg().av_frame_unref(frame.get());
    if (damaged) break;
    out.push_back(std::move(pkt));
  }
  return out;
}

}  // namespace

std::vector<WrittenFrame> write_segment_copy(AVFormatContext* in, int stream,
                                             std::vector<AvPacketPtr>& packets,
                                             const std::string& tmp) {
  std::vector<WrittenFrame> frames;
  // Removes the copy if anything below fails (a full disk, typically): the original stays,
  // and no half-written copy is left behind.
  struct RemoveUnlessKept {
    const std::string& path;
    bool keep = false;
    ~RemoveUnlessKept() {
      if (!keep) ::unlink(path.c_str());
    }
  } cleanup{tmp};
  {
    AVFormatContext* oc = nullptr;
    check_av(ffmpeg().avformat_alloc_output_context2(&oc, nullptr, "matroska", tmp.c_str()),
             "set up", tmp);
    AvOutputPtr out(oc);
    AVStream* os = ffmpeg().avformat_new_stream(out.get(), nullptr);
    if (!os) throw Error("add a stream to " + tmp + ": out of memory");
    check_av(ffmpeg().avcodec_parameters_copy(os->codecpar, in->streams[stream]->codecpar),
             "copy stream", tmp);
    os->codecpar->codec_tag = 0;
    os->time_base = AVRational{1, 1000};
    check_av(ffmpeg().avio_open(&out->pb, tmp.c_str(), AVIO_FLAG_WRITE), "create", tmp);
    check_av(ffmpeg().avformat_write_header(out.get(), nullptr), "write header of", tmp);
    const AVRational in_tb = in->streams[stream]->time_base;
    for (AvPacketPtr& p : packets) {
      frames.push_back({ffmpeg().av_rescale_q(p->pts, in_tb, AVRational{1, 1000}),
                        (p->flags & AV_PKT_FLAG_KEY) != 0});
      ffmpeg().av_packet_rescale_ts(p.get(), in_tb, os->time_base);
      p->stream_index = os->index;
      p->pos = -1;
      check_av(ffmpeg().av_write_frame(out.get(), p.get()), "write", tmp);
    }
    check_av(ffmpeg().av_write_trailer(out.get()), "finish", tmp);
    check_av(ffmpeg().avio_closep(&out->pb), "close", tmp);
  }
  ScopedFd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync", tmp);
  cleanup.keep = true;
  return frames;
}

std::vector<WrittenFrame> salvage_segment(const std::string& path) {
  quiet_ffmpeg_logs();
  std::vector<WrittenFrame> frames;
  AVFormatContext* ic = nullptr;
  if (ffmpeg().avformat_open_input(&ic, path.c_str(), nullptr, nullptr) < 0) return frames;
  AvInputPtr in(ic);
  if (ffmpeg().avformat_find_stream_info(in.get(), nullptr) < 0) return frames;
  int stream = ffmpeg().av_find_best_stream(in.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (stream < 0) return frames;
  std::vector<AvPacketPtr> packets = good_packets(in.get(), stream, path);
  if (packets.empty()) return frames;

  // Write beside the original and rename over it, so a crash during recovery leaves the
  // damaged file to recover again rather than half of a repaired one.
  const std::string tmp = path + ".salvage.mkv";
  frames = write_segment_copy(in.get(), stream, packets, tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_errno("rename", tmp, e);
  }
  return frames;
}

int recover_open_segments(DisplayIndex& index, const std::string& recordings_dir) {
  int handled = 0;
  for (const SegmentRow& seg : index.open_segments()) {
    const std::string path = recordings_dir + "/" + seg.file;
    ScopedFd lock(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (lock && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) continue;  // its recorder is alive and writing it
      throw_errno("flock", path);
    }
    std::vector<WrittenFrame> frames;
    if (lock) frames = salvage_segment(path);
    if (frames.empty()) {
      // Nothing usable: forget the row first, so no reader is ever pointed at a
      // missing file, then remove the file.
      index.drop_segment(seg.id);
      if (lock && ::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", path);
    } else {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
      index.finish_segment(seg.id, frames, st.st_size, "recovered");
    }
    ++handled;
  }
  return handled;
}

}  // namespace deja::display
