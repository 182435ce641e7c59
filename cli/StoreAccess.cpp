#include "cli/StoreAccess.h"

namespace deja::cli {

OpenStore open_store(const Invocation& inv, uint64_t image_size) {
  OpenStore s{snapshot::Store::open(inv.store_dir, image_size), nullptr};
  s.catalog = std::make_unique<db::Catalog>(s.store.catalog_path());
  return s;
}

}  // namespace deja::cli
