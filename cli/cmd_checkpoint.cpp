// deja checkpoint / deja checkpoints: take one now; list the committed ones.
#include <cstdio>

#include "base/Error.h"
#include "base/Json.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/StoreAccess.h"
#include "recorder/Session.h"

namespace deja::cli {

int cmd_checkpoint(const Invocation& inv) {
  Args args(inv.words, {"json"}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  recorder::running_session(*s.catalog, s.store, id);
  uint64_t crid = recorder::request_checkpoint(s.store, id);
  if (args.flag("json")) {
    JsonWriter w;
    w.begin_object().field("session", id).field("crid", crid).end_object();
    std::printf("%s\n", w.str().c_str());
  } else {
    std::printf("%llu\n", static_cast<unsigned long long>(crid));
  }
  return 0;
}

int cmd_checkpoints(const Invocation& inv) {
  Args args(inv.words, {"json"}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  db::SessionRow session = recorder::known_session(*s.catalog, id);
  auto rows = s.catalog->checkpoints(id);
  if (args.flag("json")) {
    JsonWriter w;
    w.begin_array();
    for (const auto& c : rows) {
      w.begin_object()
          .field("crid", c.crid.value)
          .field("t", c.time - session.started)
          .field("time", iso_time(c.time))
          .field("fsid", c.fsid)
          .field("snapshot", s.store.root() + "/" + c.snapshot)
          .field("image", c.image)
          .field("image_bytes", c.image_bytes)
          .field("pages_written", c.pages_written)
          .field("parent_crid", c.parent_crid)
          .field("downtime_ms", c.downtime_ms)
          .key("downtime_parts")
          .raw(c.downtime_parts)
          .end_object();
    }
    w.end_array();
    std::printf("%s\n", w.str().c_str());
    return 0;
  }
  std::printf("%-8s %10s  %-24s %8s %12s %10s\n", "CRID", "T", "TIME", "FSID", "IMAGE_BYTES",
              "DOWNTIME");
  for (const auto& c : rows)
    std::printf("%-8llu %10.3f  %-24s %8llu %12lld %8.2fms\n",
                static_cast<unsigned long long>(c.crid.value), c.time - session.started,
                iso_time(c.time).c_str(), static_cast<unsigned long long>(c.fsid),
                static_cast<long long>(c.image_bytes), c.downtime_ms);
  return 0;
}

}  // namespace deja::cli
