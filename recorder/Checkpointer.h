// Takes one checkpoint of a running session: flush its files, freeze its cgroup, capture its
// process tree and the pages written since the last checkpoint into memory, snapshot its
// subvolume read-only (the FSID), thaw; then, with the session running again, hand the
// image to the write-back (WriteBack.h), which writes it through io_uring, fsyncs it, and
// commits the catalog row last, in order, while the next checkpoints are taken. Any failure
// thaws the session, removes what was made, leaves no row, and makes the next checkpoint a
// full one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/Cgroup.h"
#include "db/Catalog.h"
#include "db/StoreLock.h"
#include "kmod/PageTracking.h"
#include "recorder/WriteBack.h"
#include "snapshot/Store.h"

namespace deja::recorder {

class Checkpointer {
 public:
  Checkpointer(const snapshot::Store& store, db::Catalog& catalog, Cgroup& cgroup,
               std::string session_id, pid_t init_pid);

  enum class Commit {
    wait,        // take() returns once the row is committed (or throws why it was not)
    background,  // take() returns once the session is thawed and the image queued
  };
  /// `store_lock` (shared: no gc, compact or rm meanwhile) is held until the checkpoint is
  /// committed or dropped.
  db::CheckpointRow take(Commit commit = Commit::wait,
                         std::optional<db::StoreLock> store_lock = std::nullopt);
  /// Waits until every checkpoint taken is committed or dropped.
  void finish();
  /// How long a checkpoint may hold the session frozen before it is abandoned (and the
  /// session thawed); 1 s unless set. Zero: no limit.
  void set_freeze_limit(std::chrono::milliseconds limit) { freeze_limit_ = limit; }
  /// Whether anything changed since the last checkpoint, without freezing: processes came or
  /// went, the files changed (flushed first), or the session ran and a process wrote a page
  /// or mapped something new (dirty tracking).
  bool session_changed();

 private:
  const snapshot::Store& store_;
  db::Catalog& catalog_;
  Cgroup& cgroup_;
  std::string session_;
  std::string files_;
  std::string images_;  // this session's folder of checkpoint images
  pid_t init_pid_;
  uint64_t last_generation_ = 0;
  uint64_t last_cpu_usec_ = 0;
  db::Crid last_crid_;               // the last committed checkpoint: the next one's parent
  kmod::PageTracking tracking_;      // dirty pages and page homes since last_crid_
  std::chrono::milliseconds freeze_limit_{1000};
  uint64_t failures_seen_ = 0;       // write-back failures already answered by a new chain
  WriteBack writeback_;

  /// A checkpoint the write-back dropped may be the parent of the next: start over.
  void restart_chain_after_failures();
};

}  // namespace deja::recorder
