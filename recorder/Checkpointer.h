// Takes one checkpoint of a running session: flush its files, freeze its cgroup, capture its
// process tree into memory, snapshot its subvolume read-only (the FSID), thaw, write the image,
// and commit the catalog row last. Any failure thaws the session, removes what was made, and
// leaves no row.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "db/Catalog.h"
#include "base/Cgroup.h"
#include "snapshot/Store.h"

namespace deja::recorder {

class Checkpointer {
 public:
  Checkpointer(const snapshot::Store& store, db::Catalog& catalog, Cgroup& cgroup,
               std::string session_id, pid_t init_pid);

  db::CheckpointRow take();
  /// Whether anything may have changed since the last checkpoint: a process of the session
  /// ran (its cgroup's CPU time moved) or its files changed (flushed first).
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
};

}  // namespace deja::recorder
