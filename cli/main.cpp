// deja: the command-line front end. Chooses the store, finds the subcommand and turns any
// Error into one line on stderr with a non-zero exit status.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "base/Error.h"
#include "cli/Command.h"
#include "service/UserRequests.h"

namespace deja::cli {
namespace {

const Command kCommands[] = {
    {"init", "init [--size SIZE]",
     "Creates the store (a btrfs file system and the catalog); idempotent. When the store\n"
     "folder is not on btrfs, the file system is an image file allocated on the host, grown\n"
     "on demand while the host keeps a reserve free; SIZE is the most it may grow to\n"
     "(default: no limit but the reserve). See docs/storage.md.",
     cmd_init},
    {"doctor", "doctor [--json]",
     "Checks each kernel and user-space feature Deja relies on. Exit 1 if a required one is "
     "missing.",
     cmd_doctor},
    {"record",
     "record [--name N] [--interval SEC] [--no-display] [--geometry WxH] [--detach] "
     "[--pids-max N] [--memory-max SIZE] [--cpu-weight W] [--user NAME] [--no-userns] "
     "[--exclude-app PATTERN]... [--exclude-title PATTERN]... "
     "[--desktop | -- CMD [ARG...]]",
     "Starts a session running CMD in its own container and records it until CMD's processes\n"
     "have all exited or `deja stop`. Checkpoints every SEC seconds (default 1; 0 disables).\n"
     "With no CMD (or --desktop), starts the default desktop: twm and an xterm, ending when\n"
     "that xterm does; another desktop is just another CMD, e.g. -- sh -c 'openbox & xterm'.\n"
     "With --detach, prints the session id once recording has started and returns.\n"
     "Limits (docs/sessions.md): at most N tasks (default 4096), SIZE of memory (512M, 2G;\n"
     "default half the host's) and CPU weight W (1-10000, 100 is one task's share; default\n"
     "none: each process competes as outside).\n"
     "The session runs in a user namespace: its ids 0-65535 are an unprivileged host range\n"
     "(user deja in /etc/subuid and /etc/subgid, else 1878982656..+65535) that owns its files;\n"
     "its branches get the same namespace. Its programs run as NAME (--user NAME), else as\n"
     "the user who asked (SUDO_UID under sudo), else as the session's root, nobody outside.\n"
     "--no-userns runs it without one, as the host's root (confined; docs/sessions.md).\n"
     "--exclude-app and --exclude-title (repeatable) keep windows out of the screen recording:\n"
     "a window whose WM_CLASS class or instance, or whose title, matches the shell pattern\n"
     "(case-insensitive) is black in every frame, its text is never read and its name is not\n"
     "recorded. Kept with the session: a re-attach and every branch keep them too.",
     cmd_record},
    {"sessions", "sessions [--json]",
     "Lists sessions and what each does now: recording, paused, unrecorded (its processes\n"
     "run but no recorder answers: deja attach or deja daemon records it again), starting,\n"
     "stopped or failed.",
     cmd_sessions},
    {"checkpoints", "checkpoints SESSION [--json]",
     "Lists a session's committed checkpoints, oldest first.", cmd_checkpoints},
    {"checkpoint", "checkpoint SESSION [--json]",
     "Takes one checkpoint now, waits until it is committed and prints its CRID.", cmd_checkpoint},
    {"revive",
     "revive SESSION[:CRID or @T] [--name N] [--interval SEC] [--detach] [--pids-max N] "
     "[--memory-max SIZE] [--cpu-weight W]",
     "Creates a branch: a new session from that checkpoint (SESSION alone: its latest; @T: the\n"
     "latest at or before T, in seconds since the session started or ISO-8601 UTC), running\n"
     "and recording while the original goes on. Its files start as a writable copy of the\n"
     "checkpoint's snapshot and its processes come back with the same PIDs. With --detach,\n"
     "prints the new session id once the branch runs. Limits as for record.",
     cmd_revive},
    {"exec", "exec SESSION -- CMD [ARG...]",
     "Runs CMD inside the session's container, in the session's home, stdio passed through.\n"
     "Exits with CMD's exit status.",
     cmd_exec},
    {"logs", "logs SESSION", "Prints the session command's stdout and stderr.", cmd_logs},
    {"gc",
     "gc [--dry-run] [--json] [--keep-all DUR] [--keep-minutely DUR] [--keep-hourly DUR]\n"
     "           [--keep-screen DUR]",
     "Thins old checkpoints and removes what nothing needs: keeps every checkpoint of the\n"
     "last --keep-all (default 1h), one a minute up to --keep-minutely (default 1d), one an\n"
     "hour up to --keep-hourly (default 30d), one a day after that, each session's latest,\n"
     "and every checkpoint a branch came from; then\n"
     "deletes the others' snapshots and leftovers of uncommitted checkpoints. A kept image\n"
     "that refers to pages in images of removed checkpoints is rewritten (rebased) to refer\n"
     "only to images that stay, so those images go too. Pinned checkpoints stay.\n"
     "A long pass lets revives and checkpoints in every second (its lock is held in slices).\n"
     "Screen recordings are thinned the same way: of frames older than --keep-all, the last\n"
     "of each minute (hour, day) stays, and the frame on screen at each kept checkpoint;\n"
     "text stays while a frame that shows it stays (docs/storage.md).\n"
     "With --keep-screen, screen recordings that ended longer ago go too, with their text.\n"
     "Durations: 90s, 30m, 1h, 2d.",
     cmd_gc},
    {"compact", "compact SESSION[:CRID] [--json]",
     "Writes a full image for the checkpoint (the session's latest by default), so the older\n"
     "images its incremental image refers to are no longer needed for it; deja gc then\n"
     "removes those that no kept checkpoint refers to. Shows progress on stderr.",
     cmd_compact},
    {"stop", "stop SESSION",
     "Ends the session's processes and its recording; its checkpoints stay.", cmd_stop},
    {"attach", "attach SESSION [--detach]",
     "Starts recording a running session whose recorder is gone (killed, crashed): this\n"
     "process becomes its recorder until the session ends. The session is not restarted; the\n"
     "time it went unrecorded is kept as a gap (deja gaps) and a checkpoint is taken at once.\n"
     "With --detach, prints the session id once recording has started and returns.",
     cmd_attach},
    {"pause", "pause SESSION",
     "Stops recording the session: no frames, no text, no checkpoints until deja resume.\n"
     "The session runs on; the paused time shows as a gap (deja gaps).",
     cmd_pause},
    {"resume", "resume SESSION", "Records a paused session again.", cmd_resume},
    {"gaps", "gaps SESSION [--json]",
     "Lists the stretches of the session's life that were not recorded: paused by the user,\n"
     "or unrecorded because its recorder was gone. --json prints an array of\n"
     "{reason, from, from_t, to, to_t} (to is null while the gap lasts; *_t in seconds since\n"
     "the session started).",
     cmd_gaps},
    {"daemon",
     "daemon [--scan SEC] [--retention-every DUR] [--keep-all DUR] [--keep-minutely DUR]\n"
     "            [--keep-hourly DUR] [--keep-screen DUR] [--budget SIZE]\n"
     "            [--users GROUP [--socket PATH]]",
     "The service that owns recording for the store (see docs/service.md): it watches each\n"
     "session's recorder, and when one dies it starts a new one (deja attach) for the\n"
     "running session at once; sessions it finds without a recorder are adopted the same way.\n"
     "Every --retention-every (default 10m; 0 never) it thins checkpoints as deja gc would\n"
     "with --keep-all/--keep-minutely/--keep-hourly, keeping pinned ones, thins screen\n"
     "recordings and their text the same way, and removes screen recordings older than\n"
     "--keep-screen (default 30d). While the store's file system uses more than\n"
     "--budget (e.g. 20G), each round also removes the oldest tenth of what may go\n"
     "(checkpoints but each session's latest, branch points and pins; screen segments).\n"
     "With --users, users of GROUP may ask it on PATH (default /run/deja/service.sock) to\n"
     "record sessions for them (in a user namespace) and list, stop, pause, resume and\n"
     "checkpoint their own: as such a user, run `deja record ...`, `deja sessions` etc. as\n"
     "usual (see docs/service.md). Runs until SIGTERM or Ctrl-C;\n"
     "the recorders it started go on recording without it.",
     cmd_daemon},
    {"pin", "pin SESSION@T | SESSION:CRID",
     "Keeps that checkpoint (the latest at or before T) through gc and retention; prints it.",
     cmd_pin},
    {"rm", "rm SESSION",
     "Deletes a stopped session and everything of it: checkpoints, snapshots, images, screen\n"
     "recordings and their text, files and logs. A session with branches is refused.",
     cmd_rm},
    {"df", "df [--json]",
     "What uses the store's space: the file system's totals and, per session, its\n"
     "checkpoints and snapshots (counted: they share extents), image bytes, screen recording\n"
     "bytes and the bytes of its live files.",
     cmd_df},
    {"image", "image show FILE",
     "Decodes a checkpoint image to JSON (header and every record, fields by name). A\n"
     "damaged, truncated or unknown-version image is refused with one line naming the damage.",
     cmd_image},
    {"frame", "frame SESSION@T -o FILE.png",
     "Writes the screen as it was at T (the last recorded frame at or before T) as a PNG.\n"
     "T is seconds since the session started (@12.5) or ISO-8601 UTC (@2026-11-21T23:05:00Z);\n"
     "SESSION:CRID means the time of that checkpoint.",
     cmd_frame},
    {"search",
     "search QUERY [--session S] [--from T1] [--to T2] [--app A] [--window W] [--json] "
     "[--limit N]",
     "Finds text that was on screen: lines holding every word of QUERY (as word prefixes)\n"
     "and every \"quoted phrase\" (those words in a row), one hit per appearance of a line,\n"
     "best match first, at most N (default 50). --from/--to keep appearances on screen at\n"
     "some moment between T1 and T2 (ISO-8601 UTC, or seconds since the start of the\n"
     "--session). --app keeps lines read in windows of application A (its WM_CLASS class or\n"
     "instance, whole, any case), --window those in windows whose title holds the words of\n"
     "W in a row (the last one as a prefix, any case).\n"
     "Prints session@t, time, [app: window title], text, box, until when it was on\n"
     "screen and how it was read: ocr (from the screen's pixels), atspi (as the\n"
     "application exposed it on the accessibility bus) or atspi+ocr (both: one hit, with\n"
     "the bus's text); --json prints an array of {session, t, time, text, x, y, w, h,\n"
     "first_seen, last_seen, app, window, source, sources} (first_seen = t and last_seen\n"
     "in seconds since the session started; last_seen is null while the line is still on\n"
     "screen; app and window are null for text outside every window; source is how the\n"
     "text shown was read, sources every way the appearance was read).",
     cmd_search},
    {"export", "export SESSION --from T1 --to T2 -o FILE.mp4",
     "Writes the recorded screen from T1 to T2 as an H.264 video (MP4 or, by the file name,\n"
     "Matroska). Times as for `deja frame`: seconds since the start or ISO-8601 UTC.",
     cmd_export},
    {"ui", "ui", "Opens the Qt browser (deja-ui) on the store.", cmd_ui},
    {"view", "view SESSION",
     "Opens a live window (deja-view) on a running session's screen: it follows the screen,\n"
     "can be resized (the screen scales with it), and sends your keyboard and mouse into the\n"
     "session. Closing it leaves the session running.",
     cmd_view},
};

void print_usage(FILE* out) {
  std::fprintf(out,
               "usage: deja [--store DIR | --service SOCKET] COMMAND [ARGS...]\n\n"
               "The store is --store, else $DEJA_STORE, else /var/lib/deja for root and\n"
               "$XDG_DATA_HOME/deja (~/.local/share/deja) otherwise.\n"
               "A user other than root without --store asks the service (deja daemon --users)\n"
               "for record, sessions, stop, pause, resume, checkpoint and gaps, at --service,\n"
               "else $DEJA_SERVICE, else /run/deja/service.sock.\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  deja %s\n", c.usage);
  std::fprintf(out, "\n`deja COMMAND --help` describes one command.\n");
}

std::string default_store() {
  if (const char* s = std::getenv("DEJA_STORE"); s && *s) return s;
  if (::geteuid() == 0) return "/var/lib/deja";
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/deja";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw Error("cannot choose a store: HOME is not set; pass --store DIR");
  return std::string(home) + "/.local/share/deja";
}

bool wants_help(const std::vector<std::string>& words) {
  for (const auto& w : words) {
    if (w == "--") return false;
    if (w == "--help" || w == "-h") return true;
  }
  return false;
}

// Whether this command goes to the service (docs/service.md, "Users"): with --service, or
// for a user other than root who named no store of their own. `service` becomes its socket.
bool through_service(const std::string& command, const std::string& store, std::string& service) {
  if (!service.empty()) return true;
  static const std::set<std::string> kOffered = {"record", "sessions", "stop", "pause",
                                                 "resume", "checkpoint", "gaps"};
  const char* env_store = std::getenv("DEJA_STORE");
  if (::geteuid() == 0 || !store.empty() || (env_store && *env_store) ||
      !kOffered.count(command))
    return false;
  const char* env = std::getenv("DEJA_SERVICE");
  service = env && *env ? env : service::kDefaultServiceSocket;
  return true;
}

int run(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  std::string store, service;
  size_t i = 0;
  while (i < words.size() && words[i].rfind("--", 0) == 0) {
    if (words[i] == "--store") {
      if (i + 1 >= words.size()) throw Error("--store needs a folder");
      store = words[i + 1];
      i += 2;
    } else if (words[i].rfind("--store=", 0) == 0) {
      store = words[i].substr(8);
      ++i;
    } else if (words[i] == "--service") {
      if (i + 1 >= words.size()) throw Error("--service needs the service's socket");
      service = words[i + 1];
      i += 2;
    } else if (words[i] == "--help") {
      print_usage(stdout);
      return 0;
    } else {
      throw Error("unknown option " + words[i] + " (see deja --help)");
    }
  }
  if (i >= words.size()) {
    print_usage(stderr);
    return 2;
  }
  std::string name = words[i];
  if (name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    std::vector<std::string> rest(words.begin() + static_cast<long>(i) + 1, words.end());
    if (wants_help(rest)) {
      std::printf("usage: deja %s\n\n%s\n", c.usage, c.summary);
      return 0;
    }
    if (through_service(name, store, service))
      return service::run_through_service(
          service, std::vector<std::string>(words.begin() + static_cast<long>(i), words.end()));
    return c.run(Invocation{store.empty() ? default_store() : store, std::move(rest)});
  }
  throw Error("unknown command '" + name + "' (see deja --help)");
}

}  // namespace
}  // namespace deja::cli

int main(int argc, char** argv) {
  try {
    return deja::cli::run(argc, argv);
  } catch (const deja::Error& e) {
    std::fprintf(stderr, "deja: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deja: %s\n", e.what());
    return 1;
  }
}
