// Takes one checkpoint of a running session: flush its files, freeze its cgroup, snapshot its
// subvolume read-only (the FSID), thaw, and commit the catalog row last. Any failure thaws the
// session, removes what was made, and leaves no row.
#pragma once

#include <cstdint>
#include <string>

#include "db/Catalog.h"
#include "recorder/Cgroup.h"
#include "snapshot/Store.h"

namespace deja::recorder {

class Checkpointer {
 public:
  Checkpointer(const snapshot::Store& store, db::Catalog& catalog, Cgroup& cgroup,
               std::string session_id);

  db::CheckpointRow take();
  /// Whether the session's files changed since the last checkpoint (flushes them first).
  bool files_changed();

 private:
  const snapshot::Store& store_;
  db::Catalog& catalog_;
  Cgroup& cgroup_;
  std::string session_;
  std::string files_;
  uint64_t last_generation_ = 0;
};

}  // namespace deja::recorder
