// deja compact SESSION[:CRID]: a full image for one checkpoint (the latest by default).
#include <cstdio>

#include "base/Error.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "cli/Format.h"
#include "cli/StoreAccess.h"
#include "db/StoreLock.h"
#include "recorder/Compactor.h"
#include "recorder/Session.h"

namespace deja::cli {

int cmd_compact(const Invocation& inv) {
  Args args(inv.words, {"json"}, {});
  const std::string& what = args.one_positional("SESSION[:CRID]");
  SessionRef ref = parse_session_ref(what);
  if (ref.seconds || ref.unix_time) throw Error("compact takes SESSION or SESSION:CRID, not @T");
  OpenStore s = open_store(inv);
  db::StoreLock lock(s.store.dir(), db::StoreLock::Mode::kExclusive, "compact");
  recorder::known_session(*s.catalog, ref.session);
  std::optional<db::CheckpointRow> row;
  if (ref.crid) {
    row = s.catalog->find_checkpoint(ref.session, db::Crid{*ref.crid});
  } else {
    auto rows = s.catalog->checkpoints(ref.session);
    if (!rows.empty()) row = rows.back();
  }
  if (!row) throw Error("no checkpoint " + what + " (see deja checkpoints " + ref.session + ")");
  int shown = -1;
  auto report = recorder::compact_checkpoint(
      s.store, *s.catalog, *row, [&](uint64_t done, uint64_t total) {
        int pct = static_cast<int>(done * 100 / total);
        if (pct / 10 == shown / 10 && done != total) return;
        shown = pct;
        std::fprintf(stderr, "deja compact: [%d%%] %llu of %llu MiB of pages from older images\n",
                     pct, static_cast<unsigned long long>(done >> 20),
                     static_cast<unsigned long long>(total >> 20));
      });
  std::string name = row->session + ":" + std::to_string(row->crid.value);
  if (args.flag("json")) {
    std::printf("{\"crid\": %llu, \"already_full\": %s, \"bytes_before\": %llu, "
                "\"bytes_after\": %llu, \"pages_fetched\": %llu}\n",
                static_cast<unsigned long long>(row->crid.value),
                report.already_full ? "true" : "false",
                static_cast<unsigned long long>(report.bytes_before),
                static_cast<unsigned long long>(report.bytes_after),
                static_cast<unsigned long long>(report.pages_fetched));
  } else if (report.already_full) {
    std::printf("%s already has a full image\n", name.c_str());
  } else {
    std::printf("%s: full image of %llu bytes (was %llu), %llu pages fetched; run deja gc to "
                "remove images nothing needs now\n",
                name.c_str(), static_cast<unsigned long long>(report.bytes_after),
                static_cast<unsigned long long>(report.bytes_before),
                static_cast<unsigned long long>(report.pages_fetched));
  }
  return 0;
}

}  // namespace deja::cli
