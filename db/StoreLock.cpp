#include "db/StoreLock.h"

#include <fcntl.h>

#include <time.h>

#include <chrono>
#include <cstdio>
#include <thread>

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

namespace {

double monotonic_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

SlicedLock::SlicedLock(std::string store_dir, std::string who, StoreLock held,
                       double slice_seconds, double pause_seconds)
    : dir_(std::move(store_dir)),
      who_(std::move(who)),
      lock_(std::move(held)),
      slice_(slice_seconds),
      pause_(pause_seconds),
      since_(monotonic_seconds()) {}

bool SlicedLock::between() {
  if (monotonic_seconds() - since_ < slice_) return false;
  lock_.reset();
  std::this_thread::sleep_for(std::chrono::duration<double>(pause_));
  lock_.emplace(dir_, StoreLock::Mode::kExclusive, who_);
  since_ = monotonic_seconds();
  return true;
}

}  // namespace deja::db
