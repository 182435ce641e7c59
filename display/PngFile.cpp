#include "display/PngFile.h"

#include <string_view>

#include "base/Error.h"
#include "base/Files.h"
#include "display/AvHandles.h"

namespace deja::display {

void write_png(const Frame& frame, const std::string& path) {
  quiet_ffmpeg_logs();
  const AVCodec* codec = ffmpeg().avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) throw Error("FFmpeg was built without a PNG encoder; cannot write " + path);
  AvCodecContextPtr enc(ffmpeg().avcodec_alloc_context3(codec));
  enc->width = frame.width;
  enc->height = frame.height;
  enc->pix_fmt = AV_PIX_FMT_RGB24;
  enc->time_base = {1, 1};
  // zlib's fastest level: screens of flat colour and text compress well at any level, and
  // `deja frame` must answer within 100 ms.
  enc->compression_level = 1;
  check_av(ffmpeg().avcodec_open2(enc.get(), codec, nullptr), "open PNG encoder for", path);

  AvFramePtr rgb = alloc_frame();
  rgb->format = AV_PIX_FMT_RGB24;
  rgb->width = frame.width;
  rgb->height = frame.height;
  check_av(ffmpeg().av_frame_get_buffer(rgb.get(), 0), "allocate image for", path);
  for (int y = 0; y < frame.height; ++y) {
    const uint8_t* s = frame.row(y);
    uint8_t* d = rgb->data[0] + size_t(y) * size_t(rgb->linesize[0]);
    for (int x = 0; x < frame.width; ++x, s += 4, d += 3) {
      d[0] = s[2];
      d[1] = s[1];
      d[2] = s[0];
    }
  }
  check_av(ffmpeg().avcodec_send_frame(enc.get(), rgb.get()), "encode PNG", path);
  check_av(ffmpeg().avcodec_send_frame(enc.get(), nullptr), "encode PNG", path);
  AvPacketPtr pkt = alloc_packet();
  std::string data;
  for (;;) {
    int r = ffmpeg().avcodec_receive_packet(enc.get(), pkt.get());
    if (r == AVERROR_EOF) break;
    check_av(r, "encode PNG", path);
    data.append(reinterpret_cast<const char*>(pkt->data), size_t(pkt->size));
    ffmpeg().av_packet_unref(pkt.get());
  }
  write_file_atomic(path, data);
}

}  // namespace deja::display
