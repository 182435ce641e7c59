// The store's maintenance lock: commands that delete or replace checkpoint files (gc,
// compact, rm, retention in the service) take it exclusively; revive takes it shared while
// it reads a checkpoint's images and snapshot, and a recorder while it takes a checkpoint.
// So gc never deletes an image compact just wrote or a revive is reading, nor the snapshot
// of a checkpoint in progress of a recorder that started after gc looked. A POSIX record lock: it belongs to the process, is not
// inherited by the session processes a revive forks, and goes when the process dies.
#pragma once

#include <optional>
#include <string>

#include "base/ScopedFd.h"

namespace deja::db {

class StoreLock {
 public:
  enum class Mode { kShared, kExclusive };
  /// Waits for the lock on the store at `store_dir`; `who` names the command in the line
  /// printed on stderr while it waits.
  StoreLock(const std::string& store_dir, Mode mode, const std::string& who);
  /// Takes the lock only if it is free now; nullopt otherwise.
  static std::optional<StoreLock> try_lock(const std::string& store_dir, Mode mode);
  StoreLock(StoreLock&&) = default;
  StoreLock& operator=(StoreLock&&) = default;
  ~StoreLock() = default;  // closing the file releases the lock

  /// Releases the lock before the end of scope.
  void release() { fd_.reset(); }

 private:
  StoreLock() = default;
  ScopedFd fd_;
};

/// Long maintenance (a first thinning pass over an old store) in slices: the lock is held
/// exclusively for at most `slice_seconds` of work, then released for `pause_seconds`, so a
/// revive waiting for it goes first and recorders' checkpoint ticks find it free.
class SlicedLock {
 public:
  SlicedLock(std::string store_dir, std::string who, StoreLock held, double slice_seconds,
             double pause_seconds);
  /// Called between two units of work. Past the slice, lets others in and takes the lock
  /// again (waiting for it); returns true then: what was read before may have changed.
  bool between();

 private:
  std::string dir_, who_;
  std::optional<StoreLock> lock_;
  double slice_, pause_, since_;
};

}  // namespace deja::db
