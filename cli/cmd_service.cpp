// deja daemon / gaps: the service that keeps every session recorded, and what it could not.
#include <grp.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <set>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "base/Time.h"
#include "cli/Args.h"
#include "cli/Command.h"
#include "cli/Format.h"
#include "cli/RetentionOptions.h"
#include "cli/StoreAccess.h"
#include "recorder/Session.h"
#include "service/Daemon.h"
#include "service/UserRequests.h"

namespace deja::cli {

// A group by name or number.
static gid_t group_id(const std::string& name) {
  if (const group* g = ::getgrnam(name.c_str())) return g->gr_gid;
  char* end = nullptr;
  unsigned long gid = std::strtoul(name.c_str(), &end, 10);
  if (name.empty() || *end != '\0')
    throw Error("--users: no group '" + name + "' (see /etc/group; groupadd makes one)");
  return static_cast<gid_t>(gid);
}

int cmd_daemon(const Invocation& inv) {
  std::set<std::string> options(std::begin(kRetentionOptions), std::end(kRetentionOptions));
  options.insert({"scan", "retention-every", "keep-screen", "budget", "users", "socket"});
  Args args(inv.words, {}, options);
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja daemon --help)");
  service::DaemonOptions o;
  o.scan_seconds = args.number_option("scan").value_or(o.scan_seconds);
  if (o.scan_seconds <= 0) throw Error("--scan needs a number of seconds above 0");
  if (auto v = args.option("retention-every"))
    o.retention_seconds = recorder::parse_duration(*v);
  o.policy = retention_policy(args);
  if (auto v = args.option("keep-screen")) o.keep_screen_seconds = recorder::parse_duration(*v);
  if (auto v = args.option("budget")) o.budget_bytes = snapshot::parse_size(*v);
  o.deja_exe = exe_dir() + "/deja";
  if (auto g = args.option("users")) o.users_group = group_id(*g);
  o.service_socket = args.option("socket").value_or(service::kDefaultServiceSocket);
  if (args.option("socket") && !o.users_group)
    throw Error("--socket is where users of --users GROUP ask: give --users GROUP too");
  snapshot::Store store = snapshot::Store::open(inv.store_dir);
  return service::run_daemon(store, o);
}

int cmd_gaps(const Invocation& inv) {
  Args args(inv.words, {"json"}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  db::SessionRow row = recorder::known_session(*s.catalog, id);
  std::vector<db::GapRow> gaps = s.catalog->gaps(id);
  // The gap going on now, while nothing records the session, has no row yet.
  if (recorder::session_state(s.store, row) == "unrecorded")
    gaps.push_back({id, recorder::unrecorded_since(s.store, *s.catalog, row), std::nullopt,
                    "unrecorded"});
  if (!args.flag("json")) {
    std::printf("%-10s %-10s %-24s %s\n", "FROM", "TO", "FROM TIME", "REASON");
    for (const auto& g : gaps) {
      char to[32] = "now";
      if (g.to) std::snprintf(to, sizeof to, "%.1f", *g.to - row.started);
      std::printf("%-10.1f %-10s %-24s %s\n", g.from - row.started, to,
                  iso_time(g.from).c_str(), g.reason.c_str());
    }
    return 0;
  }
  JsonWriter w;
  w.begin_array();
  for (const auto& g : gaps) {
    w.begin_object().field("reason", g.reason).field("from", iso_time(g.from));
    w.field("from_t", g.from - row.started);
    std::optional<std::string> to;
    std::optional<double> to_t;
    if (g.to) to = iso_time(*g.to), to_t = *g.to - row.started;
    w.field("to", to).field("to_t", to_t).end_object();
  }
  w.end_array();
  std::printf("%s\n", w.str().c_str());
  return 0;
}

}  // namespace deja::cli
