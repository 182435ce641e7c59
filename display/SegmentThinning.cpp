#include "display/SegmentThinning.h"

#include <sys/stat.h>

#include <vector>

#include "base/Error.h"
#include "display/AvHandles.h"
#include "display/SegmentRecovery.h"

namespace deja::display {

int64_t copy_kept_frames(const std::string& path, const std::set<int64_t>& keep_pts,
                         const std::string& tmp) {
  quiet_ffmpeg_logs();
  AVFormatContext* ic = nullptr;
  check_av(ffmpeg().avformat_open_input(&ic, path.c_str(), nullptr, nullptr), "open", path);
  AvInputPtr in(ic);
  check_av(ffmpeg().avformat_find_stream_info(in.get(), nullptr), "read the streams of", path);
  int stream = ffmpeg().av_find_best_stream(in.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  check_av(stream, "find the video of", path);
  const AVRational tb = in->streams[stream]->time_base;
  std::vector<AvPacketPtr> packets;
  for (;;) {
    AvPacketPtr pkt = alloc_packet();
    if (ffmpeg().av_read_frame(in.get(), pkt.get()) < 0) break;
    if (pkt->stream_index != stream) continue;
    if (keep_pts.count(ffmpeg().av_rescale_q(pkt->pts, tb, AVRational{1, 1000})))
      packets.push_back(std::move(pkt));
  }
  if (packets.size() != keep_pts.size())
    throw Error("thin " + path + ": it holds " + std::to_string(packets.size()) + " of the " +
                std::to_string(keep_pts.size()) + " frames the catalog lists; left as it is");
  // Readers take the frame at T from the last segment starting at or before T, which
  // holds it only while the segment's first frame is at its start.
  const int64_t shift = ffmpeg().av_rescale_q(*keep_pts.begin(), AVRational{1, 1000}, tb);
  for (AvPacketPtr& p : packets) {
    p->pts -= shift;
    if (p->dts != AV_NOPTS_VALUE) p->dts -= shift;
  }
  write_segment_copy(in.get(), stream, packets, tmp);
  struct stat st {};
  if (::stat(tmp.c_str(), &st) != 0) throw_errno("stat", tmp);
  return st.st_size;
}

}  // namespace deja::display
