// deja compact: gives one checkpoint a full image of its own, so the older images its
// incremental image refers to are no longer needed for it (gc removes them once no kept
// checkpoint refers to them). The incremental image it had stays while later images refer to
// pages in it, under its chain name <CRID>.img; the full one is <CRID>.full.img.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "db/Catalog.h"
#include "snapshot/Store.h"

namespace deja::recorder {

struct CompactReport {
  uint64_t bytes_before = 0;  // the image the checkpoint had
  uint64_t bytes_after = 0;   // its full image
  uint64_t pages_fetched = 0; // from older images
  bool already_full = false;
};

/// Called with (bytes of page data fetched so far, bytes to fetch).
using CompactProgress = std::function<void(uint64_t, uint64_t)>;

CompactReport compact_checkpoint(const snapshot::Store& store, db::Catalog& catalog,
                                 const db::CheckpointRow& row, const CompactProgress& progress);

}  // namespace deja::recorder
