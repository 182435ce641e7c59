#include "snapshot/LoopImage.h"

#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"

namespace deja::snapshot {

namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kInitialSize = 1024 * kMiB;
constexpr uint64_t kMinimumSize = 256 * kMiB;  // mkfs.btrfs needs about this much
constexpr uint64_t kMinimumStep = 512 * kMiB;
constexpr uint64_t kSmallestGrowth = 64 * kMiB;  // less is not worth a resize

std::string mib(uint64_t bytes) {
  return std::to_string(bytes / kMiB) + " MiB";
}

struct FsSpace {
  uint64_t total = 0, available = 0;
};

FsSpace fs_space(const std::string& path) {
  struct statvfs v {};
  if (::statvfs(path.c_str(), &v) != 0) throw_errno("statvfs", path);
  return {static_cast<uint64_t>(v.f_blocks) * v.f_frsize,
          static_cast<uint64_t>(v.f_bavail) * v.f_frsize};
}

// What the store keeps free in its btrfs before it asks for more: a session writing at a
// few hundred MiB a second has that much room until the next look, a second later.
uint64_t low_water(uint64_t device) {
  return std::max(256 * kMiB, device / 8);
}

struct stat stat_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_errno("stat", path);
  return st;
}

void format(const std::string& image) {
  CommandResult r = run_command({"mkfs.btrfs", "-q", "-L", "deja", image});
  if (r.status == 0) return;
  std::string out = r.output.substr(0, r.output.find('\n'));
  throw Error(r.status == 127 ? "mkfs.btrfs not found: install btrfs-progs"
                              : "mkfs.btrfs " + image + " failed: " + out);
}

// The loop device under the btrfs mounted at `root`, checked to be backed by `image`.
ScopedFd loop_device_of(int root_fd, const std::string& root, const struct stat& image,
                        const std::string& image_path) {
  btrfs_ioctl_dev_info_args dev{};
  dev.devid = 1;
  if (::ioctl(root_fd, BTRFS_IOC_DEV_INFO, &dev) != 0)
    throw_errno("ioctl BTRFS_IOC_DEV_INFO", root);
  std::string path(reinterpret_cast<const char*>(dev.path));
  ScopedFd loop(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!loop) throw_errno("open", path);
  loop_info64 info{};
  if (::ioctl(loop.get(), LOOP_GET_STATUS64, &info) != 0)
    throw_errno("ioctl LOOP_GET_STATUS64", path);
  if (info.lo_inode != image.st_ino || info.lo_device != image.st_dev)
    throw Error("the store's file system at " + root + " is on " + path + ", which is not " +
                image_path + "; unmount it and run deja again");
  return loop;
}

}  // namespace

uint64_t host_reserve(const std::string& dir) {
  return std::max(256 * kMiB, fs_space(dir).total / 100);
}

LoopImage::LoopImage(std::string dir)
    : dir_(std::move(dir)), path_(dir_ + "/store.btrfs"), limit_path_(dir_ + "/image-limit") {}

uint64_t LoopImage::limit() const {
  if (!path_exists(limit_path_)) return 0;
  try {
    return std::stoull(read_file(limit_path_));
  } catch (const std::invalid_argument&) {
    throw Error(limit_path_ + " does not hold a size in bytes; write one or remove it");
  }
}

ImageSpace LoopImage::space(const std::string& root) const {
  ImageSpace s;
  struct stat st = stat_of(path_);
  s.device = static_cast<uint64_t>(st.st_size);
  s.allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  s.limit = limit();
  s.store_free = fs_space(root).available;
  s.host_reserve = host_reserve(dir_);
  uint64_t host = fs_space(dir_).available;
  s.host_spare = host > s.host_reserve ? host - s.host_reserve : 0;
  return s;
}

void LoopImage::create(uint64_t limit) const {
  FsSpace host = fs_space(dir_);
  uint64_t reserve = host_reserve(dir_);
  uint64_t spare = host.available > reserve ? host.available - reserve : 0;
  uint64_t size = std::min(kInitialSize, spare);
  if (limit) size = std::min(size, limit);
  size &= ~(kMiB - 1);
  if (size < kMinimumSize)
    throw Error("not enough free space for a store in " + dir_ + ": its file system has " +
                mib(spare) + " free beyond the " + mib(reserve) +
                " kept for the host, a store needs " + mib(kMinimumSize) +
                "; free space there or choose another --store");
  {
    ScopedFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) throw_errno("open", path_);
    if (::fallocate(fd.get(), 0, 0, static_cast<off_t>(size)) != 0) {
      int e = errno;
      ::unlink(path_.c_str());
      throw_errno("fallocate", path_ + " (" + mib(size) + ")", e);
    }
  }
  try {
    format(path_);
    if (limit) {
      write_file(limit_path_, std::to_string(limit) + "\n");
      if (::chmod(limit_path_.c_str(), 0600) != 0) throw_errno("chmod", limit_path_);
    }
  } catch (...) {
    ::unlink(path_.c_str());
    throw;
  }
}

void LoopImage::allocate_holes() const {
  struct stat st = stat_of(path_);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  if (allocated >= size) return;
  uint64_t need = size - allocated + host_reserve(dir_);
  uint64_t host = fs_space(dir_).available;
  if (need <= host) {
    ScopedFd fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) throw_errno("open", path_);
    // Fills the holes only; the data written so far stays where it is.
    if (::fallocate(fd.get(), 0, 0, static_cast<off_t>(size)) == 0) return;
  }
  std::fprintf(stderr,
               "deja: warning: %s was made sparse by an older deja and %s of it is not "
               "allocated on its host file system, which has %s free; if that disk fills, "
               "the store goes read-only. Free space there (deja allocates the image at its "
               "next start) or move the store (docs/storage.md)\n",
               path_.c_str(), mib(size - allocated).c_str(), mib(host).c_str());
}

Room LoopImage::make_room(const std::string& root, uint64_t need) const {
  ImageSpace s = space(root);
  uint64_t want = need + low_water(s.device);
  if (s.store_free >= want) return Room::enough;
  // Grow by a quarter (few resizes as the store gets big), at least by what is missing.
  uint64_t target = s.device + std::max({kMinimumStep, s.device / 4, want - s.store_free});
  if (s.limit) target = std::min(target, std::max(s.limit, s.device));
  target = std::min(target, s.device + s.host_spare) & ~(kMiB - 1);
  if (target < s.device + kSmallestGrowth) return Room::exhausted;

  struct stat image = stat_of(path_);
  ScopedFd fd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) throw_errno("open", path_);
  off_t old_size = image.st_size;
  if (::fallocate(fd.get(), 0, old_size, static_cast<off_t>(target) - old_size) != 0) {
    int e = errno;
    // Whatever part was allocated goes again: the device keeps the size btrfs knows.
    if (::ftruncate(fd.get(), old_size) != 0) throw_errno("ftruncate", path_);
    if (e == ENOSPC) return Room::exhausted;  // someone else took the host's space first
    throw_errno("fallocate", path_, e);
  }
  ScopedFd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd) throw_errno("open", root);
  ScopedFd loop = loop_device_of(root_fd.get(), root, image, path_);
  if (::ioctl(loop.get(), LOOP_SET_CAPACITY, 0) != 0) throw_errno("ioctl LOOP_SET_CAPACITY", path_);
  btrfs_ioctl_vol_args args{};
  std::strcpy(args.name, "1:max");
  if (::ioctl(root_fd.get(), BTRFS_IOC_RESIZE, &args) != 0)
    throw_errno("ioctl BTRFS_IOC_RESIZE", root + " (to " + mib(target) + ")");
  return Room::grown;
}

bool LoopImage::low(const std::string& root, uint64_t need) const {
  return fs_space(root).available < need + low_water(static_cast<uint64_t>(stat_of(path_).st_size));
}

}  // namespace deja::snapshot
