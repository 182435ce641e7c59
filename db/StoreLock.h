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

}  // namespace deja::db
