// FFmpeg and Tesseract, loaded (dlopen) the first time a frame is encoded, decoded or read,
// not when deja starts. With what they pull in (about 150 libraries, most of them built to
// bind every symbol at load) they cost every command about 40 ms of start-up, and most
// commands (revive, checkpoint, sessions, ...) never use them. Calls go through the tables
// below: ffmpeg().avcodec_open2(...), tesseract_api().TessBaseAPIRecognize(...).
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}
#include <tesseract/capi.h>

namespace deja::display {

// Every FFmpeg function display/ calls (a function missing here fails the link of `deja`).
// clang-format off
#define DEJA_FFMPEG_FUNCTIONS(X)     \
  X(av_find_best_stream)             \
  X(av_frame_alloc)                  \
  X(av_frame_free)                   \
  X(av_frame_get_buffer)             \
  X(av_frame_make_writable)          \
  X(av_frame_move_ref)               \
  X(av_frame_unref)                  \
  X(av_log_set_level)                \
  X(av_opt_set)                      \
  X(av_opt_set_int)                  \
  X(av_packet_alloc)                 \
  X(av_packet_free)                  \
  X(av_packet_rescale_ts)            \
  X(av_packet_unref)                 \
  X(av_read_frame)                   \
  X(av_rescale_q)                    \
  X(av_seek_frame)                   \
  X(av_strerror)                     \
  X(av_write_frame)                  \
  X(av_write_trailer)                \
  X(avcodec_alloc_context3)          \
  X(avcodec_find_decoder)            \
  X(avcodec_find_encoder)            \
  X(avcodec_find_encoder_by_name)    \
  X(avcodec_flush_buffers)           \
  X(avcodec_free_context)            \
  X(avcodec_open2)                   \
  X(avcodec_parameters_copy)         \
  X(avcodec_parameters_from_context) \
  X(avcodec_parameters_to_context)   \
  X(avcodec_receive_frame)           \
  X(avcodec_receive_packet)          \
  X(avcodec_send_frame)              \
  X(avcodec_send_packet)             \
  X(avformat_alloc_output_context2)  \
  X(avformat_close_input)            \
  X(avformat_find_stream_info)       \
  X(avformat_free_context)           \
  X(avformat_new_stream)             \
  X(avformat_open_input)             \
  X(avformat_write_header)           \
  X(avio_closep)                     \
  X(avio_flush)                      \
  X(avio_open)                       \
  X(sws_freeContext)                 \
  X(sws_getCachedContext)            \
  X(sws_getContext)                  \
  X(sws_scale)
// clang-format on

// Every Tesseract function (its C API: plain symbols, no C++ ABI to match).
// clang-format off
#define DEJA_TESSERACT_FUNCTIONS(X)         \
  X(TessBaseAPICreate)                      \
  X(TessBaseAPIDelete)                      \
  X(TessBaseAPIInit2)                       \
  X(TessBaseAPIEnd)                         \
  X(TessBaseAPISetVariable)                 \
  X(TessBaseAPISetPageSegMode)              \
  X(TessBaseAPISetImage)                    \
  X(TessBaseAPISetRectangle)                \
  X(TessBaseAPISetSourceResolution)         \
  X(TessBaseAPIRecognize)                   \
  X(TessBaseAPIGetIterator)                 \
  X(TessBaseAPIGetUTF8Text)                 \
  X(TessBaseAPIMeanTextConf)                \
  X(TessBaseAPIClear)                       \
  X(TessResultIteratorDelete)               \
  X(TessResultIteratorNext)                 \
  X(TessResultIteratorGetPageIteratorConst) \
  X(TessResultIteratorGetUTF8Text)          \
  X(TessResultIteratorConfidence)           \
  X(TessPageIteratorIsAtBeginningOf)        \
  X(TessPageIteratorBoundingBox)            \
  X(TessDeleteText)
// clang-format on

#define DEJA_MEDIA_POINTER(fn) decltype(&::fn) fn;
struct FfmpegApi {
  DEJA_FFMPEG_FUNCTIONS(DEJA_MEDIA_POINTER)
};
struct TesseractApi {
  DEJA_TESSERACT_FUNCTIONS(DEJA_MEDIA_POINTER)
};
#undef DEJA_MEDIA_POINTER

/// FFmpeg's libraries, loaded on the first call (from any thread). Throws deja::Error naming
/// the library when it cannot be loaded.
const FfmpegApi& ffmpeg();
/// Tesseract's library, likewise.
const TesseractApi& tesseract_api();
/// Starts loading FFmpeg on a thread of its own, for a caller that will need it soon and has
/// other work meanwhile. A failure is left for the first ffmpeg() call to report.
void load_ffmpeg_in_background();

}  // namespace deja::display
