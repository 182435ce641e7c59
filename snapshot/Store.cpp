#include "snapshot/Store.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>

#include "base/Error.h"
#include "base/Files.h"
#include "base/ScopedFd.h"
#include "snapshot/LoopImage.h"
#include "snapshot/LoopMount.h"
#include "snapshot/Subvolume.h"

namespace deja::snapshot {

namespace {

// Serialises store creation and mounting between concurrent deja commands.
class StoreLock {
 public:
  explicit StoreLock(const std::string& dir)
      : fd_(::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (!fd_) throw_errno("open", dir + "/.lock");
    if (::flock(fd_.get(), LOCK_EX) != 0) throw_errno("flock", dir + "/.lock");
  }

 private:
  ScopedFd fd_;
};

void prepare_folder(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
    throw Error("store path " + dir + " exists and is not a folder; choose another --store");
  make_dirs(dir, 0700);
  if (::chmod(dir.c_str(), 0700) != 0) throw_errno("chmod", dir);
}

void ensure_subvolume(const std::string& path) {
  if (!path_exists(path)) create_subvolume(path);
}

}  // namespace

uint64_t parse_size(const std::string& text) {
  size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (...) {
    throw Error("bad size '" + text + "': use bytes or a number with K, M, G or T");
  }
  std::string unit = text.substr(used);
  int shift = 0;
  if (unit.empty())
    shift = 0;
  else if (unit == "K" || unit == "k")
    shift = 10;
  else if (unit == "M" || unit == "m")
    shift = 20;
  else if (unit == "G" || unit == "g")
    shift = 30;
  else if (unit == "T" || unit == "t")
    shift = 40;
  else
    throw Error("bad size '" + text + "': use bytes or a number with K, M, G or T");
  uint64_t bytes = static_cast<uint64_t>(n) << shift;
  if (bytes < (256ull << 20)) throw Error("size " + text + " is too small: btrfs needs 256M");
  return bytes;
}

Room Store::make_room(uint64_t need) const {
  if (!loop_backed_) return Room::enough;
  LoopImage image(dir_);
  if (!image.low(root_, need)) return Room::enough;
  StoreLock lock(dir_);
  return image.make_room(root_, need);
}

std::string Store::snapshot_path(const std::string& id, uint64_t crid) const {
  return snapshots_dir() + "/" + id + "/" + std::to_string(crid);
}

Store Store::open(const std::string& dir_arg, uint64_t image_limit) {
  prepare_folder(dir_arg);
  Store s;
  char real[PATH_MAX];
  if (!::realpath(dir_arg.c_str(), real)) throw_errno("realpath", dir_arg);
  s.dir_ = real;
  StoreLock lock(s.dir_);
  if (on_btrfs(s.dir_)) {
    s.root_ = s.dir_;
  } else {
    s.loop_backed_ = true;
    s.root_ = s.dir_ + "/fs";
    LoopImage image(s.dir_);
    make_dirs(s.root_, 0700);
    if (!path_exists(image.path())) image.create(image_limit);
    image.allocate_holes();
    if (!is_mount_point(s.root_)) loop_mount(image.path(), s.root_);
    image.make_room(s.root_, 0);
  }
  if (!on_btrfs(s.root_)) throw Error(s.root_ + " is mounted but is not btrfs");
  for (const auto& sub :
       {s.sessions_dir(), s.snapshots_dir(), s.images_dir(), s.recordings_dir()}) {
    ensure_subvolume(sub);
    // What the sessions did and showed is their owner's alone (also in stores made before).
    if (::chmod(sub.c_str(), 0700) != 0) throw_errno("chmod", sub);
  }
  make_dirs(s.run_dir(), 0700);
  return s;
}

}  // namespace deja::snapshot
