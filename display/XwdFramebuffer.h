// Xvfb's screen as a file: started with `-fbdir DIR`, Xvfb keeps its framebuffer in
// DIR/Xvfb_screen0 laid out as an XWD image. Mapping that file lets the recorder read the
// screen from outside the session without talking to (or slowing) the X server.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <string>

namespace deja::display {

/// A read-only mapping of an Xvfb framebuffer file, with its XWD header parsed.
/// Only 32-bit TrueColor ZPixmap screens (Xvfb depth 24 or 32) are supported; others are
/// rejected at construction with an Error naming the file.
class XwdFramebuffer {
 public:
  /// `beneath`: when not empty, a folder `path` lies in (the session's files): the file is
  /// then opened with no symlink and no ".." on the way from there (openat2
  /// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so a session that turns a folder above its
  /// framebuffer into a symlink cannot make the recorder map a host file (one on a FUSE
  /// file system, say).
  explicit XwdFramebuffer(const std::string& path, const std::string& beneath = "");
  XwdFramebuffer(const XwdFramebuffer&) = delete;
  XwdFramebuffer& operator=(const XwdFramebuffer&) = delete;
  ~XwdFramebuffer();

  int width() const { return width_; }
  int height() const { return height_; }
  /// Bytes from one row of pixels to the next.
  size_t stride() const { return stride_; }
  /// First pixel: 4 bytes per pixel in memory order B, G, R, X (little-endian 0x00RRGGBB).
  const uint8_t* pixels() const { return pixels_; }
  const std::string& path() const { return path_; }
  /// Whether the file was found shorter than when it was mapped (the session truncated it):
  /// the missing part reads as zeros, and the file must be mapped again.
  bool truncated() const { return truncated_.load(); }

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* pixels_ = nullptr;
  int width_ = 0;
  int height_ = 0;
  size_t stride_ = 0;
  std::atomic<bool> truncated_{false};
};

}  // namespace deja::display
