#include "snapshot/LoopMount.h"

#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "base/Error.h"
#include "base/ScopedFd.h"

namespace deja::snapshot {

namespace {

// A configured loop device, detached again unless the mount that uses it succeeds.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& image) {
    ScopedFd backing(::open(image.c_str(), O_RDWR | O_CLOEXEC));
    if (!backing) throw_errno("open", image);
    ScopedFd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!control) throw_errno("open", "/dev/loop-control (is the loop driver available?)");
    // Another process may take the free device between the two calls: try again.
    for (int attempt = 0; attempt < 16; ++attempt) {
      int n = ::ioctl(control.get(), LOOP_CTL_GET_FREE);
      if (n < 0) throw_errno("ioctl LOOP_CTL_GET_FREE", "/dev/loop-control");
      path_ = "/dev/loop" + std::to_string(n);
      fd_ = ScopedFd(::open(path_.c_str(), O_RDWR | O_CLOEXEC));
      if (!fd_) throw_errno("open", path_);
      loop_config cfg{};
      cfg.fd = static_cast<__u32>(backing.get());
      cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
      if (::ioctl(fd_.get(), LOOP_CONFIGURE, &cfg) == 0) return;
      if (errno != EBUSY) throw_errno("ioctl LOOP_CONFIGURE", path_);
    }
    throw Error("no free loop device for " + image + " after 16 attempts");
  }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  ~LoopDevice() {
    if (fd_ && !keep_) ::ioctl(fd_.get(), LOOP_CLR_FD);
  }
  const std::string& path() const { return path_; }
  // The mount now holds the device; with AUTOCLEAR it goes when the mount goes.
  void keep() { keep_ = true; }

 private:
  std::string path_;
  ScopedFd fd_;
  bool keep_ = false;
};

}  // namespace

bool is_mount_point(const std::string& path) {
  struct stat self {
  }, parent{};
  if (::stat(path.c_str(), &self) != 0) return false;
  if (::stat((path + "/..").c_str(), &parent) != 0) throw_errno("stat", path + "/..");
  return self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
}

void loop_mount(const std::string& image, const std::string& mountpoint) {
  LoopDevice loop(image);
  if (::mount(loop.path().c_str(), mountpoint.c_str(), "btrfs", MS_NOATIME, nullptr) != 0)
    throw_errno("mount", loop.path() + " on " + mountpoint);
  loop.keep();
}

}  // namespace deja::snapshot
