#include "cli/StoreAccess.h"

#include <limits>

#include "base/Error.h"
#include "cli/Format.h"
#include "recorder/Session.h"

namespace deja::cli {

OpenStore open_store(const Invocation& inv, uint64_t image_size) {
  OpenStore s{snapshot::Store::open(inv.store_dir, image_size), nullptr};
  s.catalog = std::make_unique<db::Catalog>(s.store.catalog_path());
  return s;
}

// The checkpoint SESSION, SESSION:CRID or SESSION@T names (SESSION alone: its latest).
db::CheckpointRow resolve_checkpoint(db::Catalog& catalog, const std::string& text) {
  SessionRef ref = parse_session_ref(text);
  db::SessionRow session = recorder::known_session(catalog, ref.session);
  std::optional<db::CheckpointRow> row;
  if (ref.crid) {
    row = catalog.find_checkpoint(ref.session, db::Crid{*ref.crid});
    if (!row) throw Error("no checkpoint " + text + " (see deja checkpoints " + ref.session + ")");
    return *row;
  }
  double at = ref.seconds ? session.started + *ref.seconds
                          : ref.unix_time.value_or(std::numeric_limits<double>::infinity());
  row = catalog.checkpoint_at(ref.session, at);
  if (!row)
    throw Error("session " + ref.session + " has no checkpoint" +
                (ref.seconds || ref.unix_time ? " at or before " + text.substr(text.find('@'))
                                              : std::string()) +
                " (see deja checkpoints " + ref.session + ")");
  return *row;
}

}  // namespace deja::cli
