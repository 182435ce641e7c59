#include "display/AvHandles.h"

#include <cerrno>
#include <mutex>
#include <new>

#include "base/Error.h"

namespace deja::display {

void check_av(int status, std::string_view op, std::string_view object) {
  if (status >= 0) return;
  // FFmpeg encodes errno values as AVERROR(e) == -e; its own codes are large tags.
  if (-status > 0 && -status < 4096) throw_errno(op, object, -status);
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  ffmpeg().av_strerror(status, text, sizeof text);
  throw Error(std::string(op) + " " + std::string(object) + ": " + text);
}

void quiet_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] { ffmpeg().av_log_set_level(AV_LOG_FATAL); });
}

AvFramePtr alloc_frame() {
  AvFramePtr f(ffmpeg().av_frame_alloc());
  if (!f) throw std::bad_alloc();
  return f;
}

AvPacketPtr alloc_packet() {
  AvPacketPtr p(ffmpeg().av_packet_alloc());
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace deja::display
