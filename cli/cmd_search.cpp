// deja search QUERY [--session S] [--from T1] [--to T2] [--app A] [--window W] [--json]
// [--limit N]: text that was on screen, one hit per appearance, with the window it was in.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "base/Error.h"
#include "base/Json.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/StoreAccess.h"
#include "display/DisplayIndex.h"
#include "recorder/Session.h"

namespace deja::cli {
namespace {

// --from/--to as Unix milliseconds: ISO-8601 UTC, or seconds since the start of the
// session given with --session (without one, seconds have nothing to count from).
std::optional<int64_t> moment(const Args& args, const char* name,
                              const std::optional<db::SessionRow>& session) {
  auto v = args.option(name);
  if (!v) return std::nullopt;
  if (auto iso = parse_iso_time(*v)) return std::llround(*iso * 1000);
  char* end = nullptr;
  const double s = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || s < 0)
    throw Error("--" + std::string(name) + " needs an ISO-8601 UTC time or seconds since the " +
                "session started, got '" + *v + "'");
  if (!session)
    throw Error("--" + std::string(name) + " " + *v + " counts seconds from a session's start: " +
                "give --session, or an ISO-8601 UTC time");
  return std::llround((session->started + s) * 1000);
}

}  // namespace

int cmd_search(const Invocation& inv) {
  Args args(inv.words, {"json"}, {"session", "limit", "from", "to", "app", "window"});
  display::TextQuery q;
  for (const auto& w : args.positionals()) q.text += (q.text.empty() ? "" : " ") + w;
  if (display::fts_query(q.text).empty())
    throw Error("missing QUERY: give one or more words to look for (see --help)");
  q.limit = static_cast<int>(args.number_option("limit").value_or(50));
  q.session = args.option("session").value_or("");
  q.app = args.option("app").value_or("");
  q.window = args.option("window").value_or("");
  OpenStore s = open_store(inv);
  std::optional<db::SessionRow> session;
  if (!q.session.empty()) session = recorder::known_session(*s.catalog, q.session);
  q.from_ms = moment(args, "from", session);
  q.to_ms = moment(args, "to", session);
  if (q.from_ms && q.to_ms && *q.to_ms < *q.from_ms)
    throw Error("--to must not come before --from");
  display::DisplayIndex index(s.store.catalog_path());
  auto hits = index.search(q);
  // Session times: seconds since the hit's session started.
  auto since_start = [](const display::TextHit& h, int64_t ms) {
    return double(ms) / 1000.0 - h.session_started;
  };
  if (args.flag("json")) {
    JsonWriter w;
    w.begin_array();
    for (const auto& h : hits) {
      std::optional<double> last;
      if (h.last_ms) last = since_start(h, *h.last_ms);
      w.begin_object()
          .field("session", h.session)
          .field("t", since_start(h, h.first_ms))
          .field("time", iso_time(double(h.first_ms) / 1000.0))
          .field("text", h.text)
          .field("x", h.box.x)
          .field("y", h.box.y)
          .field("w", h.box.w)
          .field("h", h.box.h)
          .field("first_seen", since_start(h, h.first_ms))
          .field("last_seen", last)
          .field("app", h.app)
          .field("window", h.window)
          .field("source", h.source)
          .key("sources")
          .begin_array();
      for (const std::string& source : h.sources) w.value(source);
      w.end_array().end_object();
    }
    w.end_array();
    std::printf("%s\n", w.str().c_str());
    return 0;
  }
  for (const auto& h : hits) {
    char until[32] = "now";
    if (h.last_ms) std::snprintf(until, sizeof until, "%.3f", since_start(h, *h.last_ms));
    // The window as "App: title"; lines outside every window (or from before windows were
    // recorded) say so.
    std::string where = h.app ? *h.app + ": " + h.window.value_or("") : "(no window)";
    std::string read_by;
    for (const std::string& source : h.sources) read_by += (read_by.empty() ? "" : "+") + source;
    std::printf("%s@%.3f  %s  [%s]  %s  (%d,%d %dx%d, on screen until %s, %s)\n",
                h.session.c_str(), since_start(h, h.first_ms),
                iso_time(double(h.first_ms) / 1000.0).c_str(), where.c_str(), h.text.c_str(),
                h.box.x, h.box.y, h.box.w, h.box.h, until, read_by.c_str());
  }
  return 0;
}

}  // namespace deja::cli
