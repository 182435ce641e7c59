#include "db/StoreLock.h"

#include <fcntl.h>

#include <cstdio>

#include "base/Error.h"

namespace deja::db {

namespace {

ScopedFd open_lock_file(const std::string& store_dir) {
  std::string path = store_dir + "/maintenance.lock";
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open", path);
  return fd;
}

bool set_lock(int fd, short type, bool wait) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  while (::fcntl(fd, wait ? F_SETLKW : F_SETLK, &l) != 0) {
    if (errno == EINTR) continue;
    if (!wait && (errno == EACCES || errno == EAGAIN)) return false;
    throw_errno("fcntl(F_SETLKW)", "the store's maintenance lock");
  }
  return true;
}

}  // namespace

StoreLock::StoreLock(const std::string& store_dir, Mode mode, const std::string& who)
    : fd_(open_lock_file(store_dir)) {
  short type = mode == Mode::kShared ? F_RDLCK : F_WRLCK;
  if (set_lock(fd_.get(), type, false)) return;
  // Told once, on stderr (a recorder's goes to its log).
  std::fprintf(stderr, "deja %s: waiting for another gc, compact, rm or revive on this store\n",
               who.c_str());
  set_lock(fd_.get(), type, true);
}

std::optional<StoreLock> StoreLock::try_lock(const std::string& store_dir, Mode mode) {
  StoreLock lock;
  lock.fd_ = open_lock_file(store_dir);
  if (!set_lock(lock.fd_.get(), mode == Mode::kShared ? F_RDLCK : F_WRLCK, false))
    return std::nullopt;
  return lock;
}

}  // namespace deja::db
