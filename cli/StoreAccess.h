// Opening the store and its catalog for a command (creating them on first use).
#pragma once

#include <memory>

#include "cli/Command.h"
#include "db/Catalog.h"
#include "snapshot/Store.h"

namespace deja::cli {

struct OpenStore {
  snapshot::Store store;
  std::unique_ptr<db::Catalog> catalog;
};

OpenStore open_store(const Invocation& inv, uint64_t image_size = 0);

/// The checkpoint SESSION, SESSION:CRID or SESSION@T names (SESSION alone: its latest).
db::CheckpointRow resolve_checkpoint(db::Catalog& catalog, const std::string& text);

}  // namespace deja::cli
