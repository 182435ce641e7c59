#include "display/XwdFramebuffer.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"

namespace deja::display {
namespace {

// The session owns its framebuffer file and may truncate it; a read of the mapping past the
// new end would raise SIGBUS and kill the recorder. A SIGBUS inside a framebuffer mapping
// instead maps zero pages over the missing ones and marks the framebuffer truncated, so the
// recorder maps the file again (or pauses while it does not fit). Faults elsewhere keep
// their default action.
struct GuardedMapping {
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<bool>* truncated = nullptr;
};
constexpr int kMaxMappings = 64;
GuardedMapping g_mappings[kMaxMappings];
std::mutex g_mappings_mu;  // for registering; the handler only reads

void on_sigbus(int sig, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (GuardedMapping& m : g_mappings) {
    if (addr < m.begin.load() || addr >= m.end.load()) continue;
    uintptr_t page = addr & ~(uintptr_t(::sysconf(_SC_PAGESIZE)) - 1);
    if (::mmap(reinterpret_cast<void*>(page), m.end.load() - page, PROT_READ,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
      m.truncated->store(true);
      return;
    }
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void guard(void* map, size_t size, std::atomic<bool>* truncated) {
  std::lock_guard lock(g_mappings_mu);
  static bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return ::sigaction(SIGBUS, &sa, nullptr) == 0;
  }();
  if (!installed) throw_errno("sigaction", "SIGBUS guard of the framebuffer");
  for (GuardedMapping& m : g_mappings) {
    if (m.end.load() != 0) continue;
    m.truncated = truncated;
    m.begin = reinterpret_cast<uintptr_t>(map);
    m.end = reinterpret_cast<uintptr_t>(map) + size;
    return;
  }
  throw Error("more than 64 framebuffers mapped at once");
}

void unguard(void* map) {
  std::lock_guard lock(g_mappings_mu);
  for (GuardedMapping& m : g_mappings)
    if (m.begin.load() == reinterpret_cast<uintptr_t>(map)) m.end = 0, m.begin = 0;
}

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

namespace {

// The file is the session's: a FIFO planted there must not block the recorder, nor a
// symlink make it map a host file.
ScopedFd open_framebuffer(const std::string& path, const std::string& beneath) {
  if (beneath.empty()) {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) throw_errno("open", path);
    return fd;
  }
  if (path.rfind(beneath + "/", 0) != 0) throw Error(path + " is not in " + beneath);
  return ScopedFd(open_regular_beneath(beneath, path.substr(beneath.size() + 1)));
}

}  // namespace

XwdFramebuffer::XwdFramebuffer(const std::string& path, const std::string& beneath)
    : path_(path) {
  ScopedFd fd = open_framebuffer(path, beneath);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat", path);
  if (!S_ISREG(st.st_mode)) throw Error(path + " is not a regular file");
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ < kFieldCount * 4) throw Error(path + ": too short for an XWD header");
  // MAP_SHARED: we must see the X server's later writes, not a private copy.
  map_ = ::mmap(nullptr, map_size_, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw_errno("mmap", path);
  }
  guard(map_, map_size_, &truncated_);
  const auto* base = static_cast<const uint8_t*>(map_);
  auto field = [&](HeaderField f) { return be32(base + 4 * f); };
  auto reject = [&](const std::string& why) {
    unguard(map_);
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
  if (!map_) return;
  unguard(map_);
  ::munmap(map_, map_size_);
}

}  // namespace deja::display
