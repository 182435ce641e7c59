#include "display/MediaLibs.h"

#include <dlfcn.h>
#include <tesseract/version.h>

#include <initializer_list>
#include <string>
#include <thread>

#include "base/Error.h"

namespace deja::display {
namespace {

// The major version the headers were built against: its ABI is the one the tables assume.
void* open_library(const std::string& name, int major) {
  std::string soname = name + ".so." + std::to_string(major);
  // Never closed: the handles live as long as the process, as linked libraries would.
  void* handle = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    throw Error("load " + soname + ": " + ::dlerror() +
                " (is it installed? scripts/install-deps.sh lists it)");
  return handle;
}

template <typename Fn>
void resolve(Fn& out, const char* symbol, std::initializer_list<void*> libraries) {
  for (void* handle : libraries)
    if (void* found = ::dlsym(handle, symbol)) {
      out = reinterpret_cast<Fn>(found);
      return;
    }
  throw Error(std::string("load FFmpeg/Tesseract: no function ") + symbol +
              " in the installed libraries (a version other than the one deja was built with?)");
}

FfmpegApi load_ffmpeg() {
  void* util = open_library("libavutil", LIBAVUTIL_VERSION_MAJOR);
  void* codec = open_library("libavcodec", LIBAVCODEC_VERSION_MAJOR);
  void* format = open_library("libavformat", LIBAVFORMAT_VERSION_MAJOR);
  void* scale = open_library("libswscale", LIBSWSCALE_VERSION_MAJOR);
  FfmpegApi api{};
#define DEJA_RESOLVE(fn) resolve(api.fn, #fn, {util, codec, format, scale});
  DEJA_FFMPEG_FUNCTIONS(DEJA_RESOLVE)
#undef DEJA_RESOLVE
  return api;
}

TesseractApi load_tesseract() {
  void* tess = open_library("libtesseract", TESSERACT_MAJOR_VERSION);
  TesseractApi api{};
#define DEJA_RESOLVE(fn) resolve(api.fn, #fn, {tess});
  DEJA_TESSERACT_FUNCTIONS(DEJA_RESOLVE)
#undef DEJA_RESOLVE
  return api;
}

}  // namespace

const FfmpegApi& ffmpeg() {
  // A failed load throws out of the initialisation, so the next call tries again.
  static const FfmpegApi api = load_ffmpeg();
  return api;
}

const TesseractApi& tesseract_api() {
  static const TesseractApi api = load_tesseract();
  return api;
}

void load_ffmpeg_in_background() {
  std::thread([] {
    try {
      ffmpeg();
    } catch (const Error&) {
      // Reported by the first real use, with the caller's context.
    }
  }).detach();
}

}  // namespace deja::display
