// deja record / sessions / exec / logs / stop: starting, listing and reaching sessions.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <limits>
#include <regex>

#include "base/Error.h"
#include "base/Files.h"
#include "base/Json.h"
#include "base/ScopedFd.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/StoreAccess.h"
#include "recorder/Container.h"
#include "recorder/Session.h"

namespace deja::cli {

namespace {

recorder::RecordOptions record_options(const Args& args) {
  recorder::RecordOptions o;
  o.command = args.rest();
  // No command: the default desktop, as with --desktop.
  o.desktop = args.flag("desktop") || o.command.empty();
  if (args.flag("desktop") && !o.command.empty())
    throw Error("--desktop starts the default desktop: give either --desktop or -- CMD, not both");
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] +
                "': put the command after --, as in deja record -- " + args.positionals()[0]);
  o.name = args.option("name").value_or("");
  o.interval = args.number_option("interval").value_or(1.0);
  o.display = !args.flag("no-display");
  for (const char* kind : {"app", "title"})
    for (const std::string& pattern : args.options(std::string("exclude-") + kind)) {
      if (pattern.empty()) throw Error(std::string("--exclude-") + kind + " needs a pattern");
      o.exclude_windows.push_back({kind, pattern});
    }
  if (o.desktop && !o.display)
    throw Error("the default desktop needs a display: drop --no-display, or give a command");
  if (auto g = args.option("geometry")) {
    if (!std::regex_match(*g, std::regex("[0-9]{2,5}x[0-9]{2,5}(x(8|16|24|32))?")))
      throw Error("--geometry needs WxH or WxHxDEPTH, like 1280x800, got '" + *g + "'");
    o.geometry = g->find('x') == g->rfind('x') ? *g + "x24" : *g;
  }
  return o;
}

// The user a session is recorded for, given by the service (docs/service.md).
std::optional<int64_t> owner_option(const Args& args) {
  auto v = args.number_option("owner");
  if (!v) return std::nullopt;
  if (*v != static_cast<double>(static_cast<int64_t>(*v)))
    throw Error("--owner needs a user id (a whole number)");
  return static_cast<int64_t>(*v);
}

recorder::ResourceLimits limit_options(const Args& args) {
  return recorder::limits_from_flags(args.option("pids-max"), args.option("memory-max"),
                                     args.option("cpu-weight"));
}

void redirect_stdio(const std::string& path) {
  ScopedFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  ScopedFd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!out || !in) return;
  ::dup2(in.get(), 0);
  ::dup2(out.get(), 1);
  ::dup2(out.get(), 2);
}

using OnReady = std::function<void(const std::string& id)>;
// Starts a session (record or revive) and supervises it until it ends; returns its status.
using SessionStart = std::function<int(const OnReady&)>;

// Runs the recorder in a child that outlives this command; returns once it is recording.
int run_detached(const snapshot::Store& store, const SessionStart& start) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2", "recorder start");
  ScopedFd rd(fds[0]), wr(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork", "recorder");
  if (pid == 0) {
    rd.reset();
    ::setsid();
    redirect_stdio("/dev/null");
    int status = 1;
    try {
      status = start([&](const std::string& id) {
        std::string msg = "ok " + id;
        if (::write(wr.get(), msg.data(), msg.size()) < 0) {
        }
        wr.reset();
        redirect_stdio(store.run_dir() + "/" + id + ".log");
      });
    } catch (const std::exception& e) {
      std::string msg = std::string("error ") + e.what();
      if (wr && ::write(wr.get(), msg.data(), msg.size()) < 0) {
      }
    }
    ::_exit(status);  // skip destructors of state shared with the parent
  }
  wr.reset();
  std::string reply = read_all(rd.get());
  if (reply.rfind("ok ", 0) == 0) {
    std::printf("%s\n", reply.substr(3).c_str());
    return 0;
  }
  throw Error(reply.rfind("error ", 0) == 0 ? reply.substr(6)
                                            : "the recorder exited before the session started");
}

// Runs the session in this process, telling the user where it stands on stderr.
int run_foreground(const snapshot::Store& store, const SessionStart& start) {
  std::string id;
  int status = start([&](const std::string& started) {
    id = started;
    std::fprintf(stderr, "deja: recording session %s (its output: deja logs %s)\n", id.c_str(),
                 id.c_str());
  });
  db::Catalog catalog(store.catalog_path());
  auto row = catalog.find_session(id);
  std::string how = row && row->exit_status ? "with status " + std::to_string(*row->exit_status)
                                            : std::string("(its exit status went with its first "
                                                          "recorder)");
  std::fprintf(stderr,
               "deja: session %s ended %s after %lld checkpoints (deja checkpoints %s lists "
               "them)\n",
               id.c_str(), how.c_str(), static_cast<long long>(catalog.checkpoint_count(id)),
               id.c_str());
  return status;
}

int run_session(const snapshot::Store& store, bool detach, const SessionStart& start) {
  return detach ? run_detached(store, start) : run_foreground(store, start);
}

}  // namespace

int cmd_record(const Invocation& inv) {
  Args args(inv.words, {"no-display", "detach", "desktop", "userns", "no-userns"},
            {"name", "interval", "geometry", "pids-max", "memory-max", "cpu-weight", "user",
             "exclude-app", "exclude-title", "owner"});
  recorder::RecordOptions options = record_options(args);
  options.user = args.option("user").value_or("");
  options.owner = owner_option(args);
  options.limits = limit_options(args);
  // --userns is the default, still accepted from scripts written when it was not.
  if (args.flag("userns") && args.flag("no-userns"))
    throw Error("--userns and --no-userns contradict each other: give one (the default is --userns)");
  options.userns = !args.flag("no-userns");
  snapshot::Store store = snapshot::Store::open(inv.store_dir);
  return run_session(store, args.flag("detach"), [&](const OnReady& on_ready) {
    return recorder::record_session(store, options, on_ready);
  });
}

int cmd_revive(const Invocation& inv) {
  Args args(inv.words, {"detach"}, {"name", "interval", "pids-max", "memory-max", "cpu-weight"});
  const std::string& what = args.one_positional("SESSION[:CRID or @T]");
  recorder::ReviveOptions options;
  options.limits = limit_options(args);
  options.name = args.option("name").value_or("");
  options.interval = args.number_option("interval").value_or(1.0);
  OpenStore s = open_store(inv);
  db::CheckpointRow checkpoint = resolve_checkpoint(*s.catalog, what);
  s.catalog.reset();  // the recorder opens its own connection (and may fork first)
  return run_session(s.store, args.flag("detach"), [&](const OnReady& on_ready) {
    return recorder::revive_session(s.store, checkpoint.session, checkpoint.crid, options,
                                    on_ready);
  });
}

int cmd_sessions(const Invocation& inv) {
  Args args(inv.words, {"json"}, {"owner"});
  const std::optional<int64_t> owner = owner_option(args);
  if (!args.positionals().empty())
    throw Error("unexpected argument '" + args.positionals()[0] + "' (see deja sessions --help)");
  OpenStore s = open_store(inv);
  JsonWriter w;
  w.begin_array();
  if (!args.flag("json"))
    std::printf("%-10s %-10s %-20s %-24s %-10s %s\n", "ID", "STATE", "NAME", "STARTED", "PARENT",
                "CHECKPOINTS");
  for (auto& row : s.catalog->sessions()) {
    if (owner && row.owner != owner) continue;
    std::string state = recorder::session_state(s.store, row);
    int64_t count = s.catalog->checkpoint_count(row.id);
    if (!args.flag("json")) {
      std::printf("%-10s %-10s %-20s %-24s %-10s %lld\n", row.id.c_str(), state.c_str(),
                  row.name.c_str(), iso_time(row.started).c_str(), row.parent.value_or("-").c_str(),
                  static_cast<long long>(count));
      continue;
    }
    w.begin_object().field("id", row.id).field("name", row.name).field("state", state);
    w.field("started", iso_time(row.started));
    std::optional<std::string> stopped;
    if (row.stopped) stopped = iso_time(*row.stopped);
    w.field("stopped", stopped).field("parent", row.parent);
    w.key("parent_crid");
    if (row.parent_crid)
      w.value(*row.parent_crid);
    else
      w.null();
    w.field("checkpoints", count).key("command").raw(row.command);
    w.field("exit_status", row.exit_status).field("owner", row.owner).end_object();
  }
  w.end_array();
  if (args.flag("json")) std::printf("%s\n", w.str().c_str());
  return 0;
}

int cmd_attach(const Invocation& inv) {
  Args args(inv.words, {"detach"}, {});
  const std::string& id = args.one_positional("SESSION");
  snapshot::Store store = snapshot::Store::open(inv.store_dir);
  return run_session(store, args.flag("detach"), [&](const OnReady& on_ready) {
    return recorder::attach_session(store, id, on_ready);
  });
}

static int pause_or_resume(const Invocation& inv, bool pause) {
  Args args(inv.words, {}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  db::SessionRow row = recorder::running_session(*s.catalog, s.store, id);
  std::string state = recorder::session_state(s.store, row);
  if (state == (pause ? "paused" : "recording"))
    throw Error("session " + id + " is already " + state);
  recorder::request_pause(s.store, id, pause);
  return 0;
}

int cmd_pause(const Invocation& inv) {
  return pause_or_resume(inv, true);
}

int cmd_resume(const Invocation& inv) {
  return pause_or_resume(inv, false);
}

int cmd_exec(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  db::SessionRow session = recorder::running_session(*s.catalog, s.store, id);
  std::fflush(stdout);
  // As the session's user (its map is in its files, out of the session's reach).
  return recorder::exec_in_session(session, recorder::read_id_map(s.store.session_subvolume(id)),
                                   args.rest());
}

int cmd_logs(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  recorder::known_session(*s.catalog, id);
  // The log is in the session's files: what the session put there (a symlink to a host
  // file, a FIFO) must not be followed or block, as root.
  std::string files = s.store.session_subvolume(id);
  ScopedFd log;
  try {
    log = ScopedFd(open_regular_beneath(
        files, recorder::session_log_path(files).substr(files.size() + 1)));
  } catch (const SysError& e) {
    if (e.err() == ENOENT) return 0;
    throw;
  }
  std::string text = read_all(log.get());
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

int cmd_stop(const Invocation& inv) {
  Args args(inv.words, {}, {});
  const std::string& id = args.one_positional("SESSION");
  OpenStore s = open_store(inv);
  recorder::request_stop(s.store, *s.catalog, id);
  return 0;
}

}  // namespace deja::cli
