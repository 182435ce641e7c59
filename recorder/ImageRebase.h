// Thinning that frees image space. A kept checkpoint's incremental image refers to pages in
// older images, so removing a checkpoint frees its image only once no kept image refers to
// it any more. After thinning, the kept images that refer to an image nothing else keeps are
// rewritten ("rebased"): a page whose image stays is still referred to; a page whose image
// goes is copied in, once per pass (a later kept image refers to that copy). The images that
// went are then unneeded and gc removes them. A rebased image is written under a fresh CRID
// (<NEW>.img, so later images can refer to it by CRID like any chain image) before the
// catalog names it, in one transaction with its references: a crash leaves either the old
// image named or the new one, never a half-written one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "db/Catalog.h"
#include "snapshot/Store.h"

namespace deja::recorder {

struct RebaseReport {
  size_t images = 0;          // kept checkpoints given a rebased image
  uint64_t bytes_written = 0;  // the rebased images' sizes
  uint64_t pages_copied = 0;   // pages copied in from images that go
};

/// Rebases the kept images of `session` (its rows in the catalog are the kept checkpoints)
/// that refer to images no kept checkpoint keeps. A live session's newest checkpoint keeps
/// its chain image and every image it refers to (its recorder's next image builds on them).
/// The caller holds the store's maintenance lock exclusively; `between` is called before each
/// image and returns true when it let others take the lock meanwhile (db::SlicedLock): the
/// plan is then made again if any checkpoint it was made from changed.
RebaseReport rebase_kept_images(const snapshot::Store& store, db::Catalog& catalog,
                                const std::string& session, bool live,
                                const std::function<bool()>& between);

}  // namespace deja::recorder
