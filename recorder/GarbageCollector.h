// Store maintenance: thins each session's checkpoints by the retention policy and removes
// what nothing needs any more: snapshots and images of thinned checkpoints, and leftovers of
// checkpoints that were never committed (a recorder killed mid-checkpoint).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "db/Catalog.h"
#include "recorder/Retention.h"
#include "snapshot/Store.h"

namespace deja::recorder {

struct GcReport {
  size_t kept = 0;
  std::vector<std::pair<std::string, uint64_t>> deleted;  // session, CRID
  std::vector<std::string> leftovers;                     // paths of uncommitted checkpoints
};

/// Called before each deletion with (done, total, what).
using GcProgress = std::function<void(size_t, size_t, const std::string&)>;

GcReport collect_garbage(const snapshot::Store& store, db::Catalog& catalog,
                         const RetentionPolicy& policy, double now, bool dry_run,
                         const GcProgress& progress);

}  // namespace deja::recorder
