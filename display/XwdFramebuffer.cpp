#include "display/XwdFramebuffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "base/Error.h"
#include "base/ScopedFd.h"

namespace deja::display {
namespace {

// XWDFileHeader (X11/XWDFile.h): 25 CARD32 fields, which Xvfb stores big-endian
// whatever the host order, followed by the window name and `ncolors` 12-byte XWDColor
// entries. Pixel data starts after those.
enum HeaderField {
  kHeaderSize = 0,
  kFileVersion = 1,
  kPixmapFormat = 2,
  kPixmapDepth = 3,
  kPixmapWidth = 4,
  kPixmapHeight = 5,
  kByteOrder = 7,
  kBitsPerPixel = 11,
  kBytesPerLine = 12,
  kVisualClass = 13,
  kRedMask = 14,
  kGreenMask = 15,
  kBlueMask = 16,
  kNColors = 19,
  kFieldCount = 25,
};
constexpr uint32_t kXwdVersion = 7;
constexpr uint32_t kZPixmap = 2;
constexpr uint32_t kTrueColor = 4;
constexpr uint32_t kLsbFirst = 0;
constexpr size_t kColorEntryBytes = 12;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

XwdFramebuffer::XwdFramebuffer(const std::string& path) : path_(path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", path);
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ < kFieldCount * 4) throw Error(path + ": too short for an XWD header");
  // MAP_SHARED: we must see the X server's later writes, not a private copy.
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw_errno("mmap", path);
  }
  const auto* base = static_cast<const uint8_t*>(map_);
  auto field = [&](HeaderField f) { return be32(base + 4 * f); };
  auto reject = [&](const std::string& why) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw Error(path + ": unsupported Xvfb framebuffer (" + why + ")");
  };
  if (field(kFileVersion) != kXwdVersion) reject("not an XWD version 7 file");
  if (field(kPixmapFormat) != kZPixmap || field(kVisualClass) != kTrueColor)
    reject("not a TrueColor ZPixmap");
  if (field(kBitsPerPixel) != 32 || field(kPixmapDepth) < 24) reject("not 32 bits per pixel");
  if (field(kByteOrder) != kLsbFirst || field(kRedMask) != 0xff0000 ||
      field(kGreenMask) != 0xff00 || field(kBlueMask) != 0xff)
    reject("pixel layout is not little-endian 0x00RRGGBB");
  width_ = static_cast<int>(field(kPixmapWidth));
  height_ = static_cast<int>(field(kPixmapHeight));
  stride_ = field(kBytesPerLine);
  size_t offset = size_t{field(kHeaderSize)} + size_t{field(kNColors)} * kColorEntryBytes;
  if (width_ <= 0 || height_ <= 0 || stride_ < size_t(width_) * 4 ||
      offset + stride_ * size_t(height_) > map_size_)
    reject("header sizes do not fit the file");
  pixels_ = base + offset;
}

XwdFramebuffer::~XwdFramebuffer() {
  if (map_) ::munmap(map_, map_size_);
}

}  // namespace deja::display
