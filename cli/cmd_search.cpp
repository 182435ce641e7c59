// deja search QUERY [--session S] [--json] [--limit N]: text that was on screen.
#include <cstdio>

#include "base/Error.h"
#include "base/Json.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/StoreAccess.h"
#include "display/DisplayIndex.h"
#include "recorder/Session.h"

namespace deja::cli {

int cmd_search(const Invocation& inv) {
  Args args(inv.words, {"json"}, {"session", "limit"});
  std::string query;
  for (const auto& w : args.positionals()) query += (query.empty() ? "" : " ") + w;
  if (display::fts_query(query).empty())
    throw Error("missing QUERY: give one or more words to look for (see --help)");
  const int limit = static_cast<int>(args.number_option("limit").value_or(50));
  const std::string session = args.option("session").value_or("");
  OpenStore s = open_store(inv);
  if (!session.empty()) recorder::known_session(*s.catalog, session);
  display::DisplayIndex index(s.store.catalog_path());
  auto hits = index.search(query, session, limit);
  if (args.flag("json")) {
    JsonWriter w;
    w.begin_array();
    for (const auto& h : hits) {
      double time = double(h.first_ms) / 1000.0;
      w.begin_object()
          .field("session", h.session)
          .field("t", time - h.session_started)
          .field("time", iso_time(time))
          .field("text", h.text)
          .field("x", h.box.x)
          .field("y", h.box.y)
          .field("w", h.box.w)
          .field("h", h.box.h)
          .end_object();
    }
    w.end_array();
    std::printf("%s\n", w.str().c_str());
    return 0;
  }
  for (const auto& h : hits) {
    double time = double(h.first_ms) / 1000.0;
    std::printf("%s@%.3f  %s  %s  (%d,%d %dx%d)\n", h.session.c_str(), time - h.session_started,
                iso_time(time).c_str(), h.text.c_str(), h.box.x, h.box.y, h.box.w, h.box.h);
  }
  return 0;
}

}  // namespace deja::cli
