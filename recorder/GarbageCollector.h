// Store maintenance: thins each session's checkpoints by the retention policy and removes
// what nothing needs any more: snapshots and images of thinned checkpoints, and leftovers of
// checkpoints that were never committed (a recorder killed mid-checkpoint).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "db/Catalog.h"
#include "recorder/ImageRebase.h"
#include "recorder/Retention.h"
#include "snapshot/Store.h"

namespace deja::recorder {

struct GcReport {
  size_t kept = 0;
  std::vector<std::pair<std::string, uint64_t>> deleted;  // session, CRID
  std::vector<std::string> leftovers;                     // paths of uncommitted checkpoints
  RebaseReport rebased;  // kept images rewritten so the images of those removed can go
};

/// Called before each deletion with (done, total, what).
using GcProgress = std::function<void(size_t, size_t, const std::string&)>;
/// Called between units of work; true when others had the store's maintenance lock
/// meanwhile (db::SlicedLock::between). A pass cut into slices holds the lock for short
/// stretches only, so revives and checkpoints are not kept waiting by a long one.
using Between = std::function<bool()>;
inline bool never_between() { return false; }

/// The CRIDs of `rows` (one session's checkpoints) the policy keeps at `now`, with those a
/// branch came from and the pinned ones.
std::set<uint64_t> kept_checkpoints(db::Catalog& catalog, const std::string& session,
                                    const std::vector<db::CheckpointRow>& rows,
                                    const RetentionPolicy& policy, double now);

GcReport collect_garbage(const snapshot::Store& store, db::Catalog& catalog,
                         const RetentionPolicy& policy, double now, bool dry_run,
                         const GcProgress& progress, const Between& between = never_between);

struct RecordingsReport {
  size_t segments = 0;
  uint64_t bytes = 0;
};

/// Removes the complete screen segments that ended before `before` (Unix seconds), with
/// their frames and the text last seen in them: rows first, then files.
RecordingsReport remove_recordings(const snapshot::Store& store, db::Catalog& catalog,
                                   double before, bool dry_run);

/// For a store over its size budget: removes the oldest `fraction` (0..1] of the checkpoints
/// a policy may remove (all but each session's latest, branch points and pins) and of the
/// complete screen segments. btrfs frees the space of deleted snapshots in the background,
/// so the caller sheds again on a later round while still over budget.
GcReport shed_oldest(const snapshot::Store& store, db::Catalog& catalog, double fraction,
                     RecordingsReport* recordings);

/// Deletes a stopped session and everything of it: its catalog rows first (so no row ever
/// names a missing file), then its snapshots, images, recordings, files and logs. Refuses a
/// session that runs or has branches. The caller holds the store's maintenance lock.
void remove_session(const snapshot::Store& store, db::Catalog& catalog, const std::string& id);

/// Removes a folder and everything in it (no subvolumes inside); absent is fine.
void remove_tree(const std::string& path);

}  // namespace deja::recorder
