// Screen recordings thinned by the same timeline policy as checkpoints (docs/storage.md):
// of the frames older than --keep-all, the latest of each minute (hour, day) stays, and so
// does the frame on screen at each checkpoint retention keeps (pins and branch points
// among them), each with the frames it decodes from back to its keyframe. Segment files
// are rewritten packet for packet; a segment left with no frame goes. A line of text stays
// while a frame that shows it stays.
#pragma once

#include <cstdint>

#include "db/Catalog.h"
#include "recorder/GarbageCollector.h"
#include "recorder/Retention.h"
#include "snapshot/Store.h"

namespace deja::recorder {

struct ThinningReport {
  size_t frames_removed = 0;
  size_t segments_rewritten = 0;
  size_t segments_removed = 0;
  uint64_t bytes_freed = 0;  // not known ahead for rewritten segments in a dry run
  size_t text_removed = 0;
};

/// Thins every session's complete screen segments and their text at `now` (Unix seconds).
/// Run after the checkpoints were thinned: the frames of the checkpoints kept stay. The
/// caller holds the store's maintenance lock (`between`: GarbageCollector.h). Rewriting a
/// segment: the copy is written and fsynced beside it, the catalog keeps only the kept
/// frames, then the copy is renamed over the file (a reader sees the old or the new file, each a superset of the catalog's rows).
ThinningReport thin_recordings(const snapshot::Store& store, db::Catalog& catalog,
                               const RetentionPolicy& policy, double now, bool dry_run,
                               const Between& between = never_between);

}  // namespace deja::recorder
