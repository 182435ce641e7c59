#include "snapshot/Subvolume.h"

#include <btrfsutil.h>
#include <linux/magic.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstdlib>

#include "base/Error.h"

namespace deja::snapshot {

namespace {

// libbtrfsutil keeps errno from the failing syscall; report both.
void check(btrfs_util_error err, const char* op, const std::string& path) {
  if (err == BTRFS_UTIL_OK) return;
  int e = errno;
  throw SysError(std::string(op) + " (" + btrfs_util_strerror(err) + ")", path, e);
}

}  // namespace

void create_subvolume(const std::string& path) {
  check(btrfs_util_create_subvolume(path.c_str(), 0, nullptr, nullptr),
        "btrfs_util_create_subvolume", path);
}

uint64_t snapshot_subvolume(const std::string& source, const std::string& dest, bool read_only) {
  int flags = read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0;
  check(btrfs_util_create_snapshot(source.c_str(), dest.c_str(), flags, nullptr, nullptr),
        "btrfs_util_create_snapshot", dest);
  return subvolume_id(dest);
}

void delete_subvolume(const std::string& path) {
  check(btrfs_util_delete_subvolume(path.c_str(), 0), "btrfs_util_delete_subvolume", path);
}

uint64_t subvolume_id(const std::string& path) {
  uint64_t id = 0;
  check(btrfs_util_subvolume_id(path.c_str(), &id), "btrfs_util_subvolume_id", path);
  return id;
}

uint64_t subvolume_generation(const std::string& path) {
  struct btrfs_util_subvolume_info info {};
  check(btrfs_util_subvolume_info(path.c_str(), 0, &info), "btrfs_util_subvolume_info", path);
  return info.generation;
}

size_t subvolumes_being_cleaned(const std::string& path) {
  uint64_t* ids = nullptr;
  size_t n = 0;
  check(btrfs_util_deleted_subvolumes(path.c_str(), &ids, &n), "btrfs_util_deleted_subvolumes",
        path);
  std::free(ids);
  return n;
}

void sync_filesystem(const std::string& path) {
  check(btrfs_util_sync(path.c_str()), "btrfs_util_sync", path);
}

bool on_btrfs(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) throw_errno("statfs", path);
  return fs.f_type == BTRFS_SUPER_MAGIC;
}

}  // namespace deja::snapshot
