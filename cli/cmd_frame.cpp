// deja frame SESSION@T -o FILE.png: the screen as it was at T.
#include <cmath>
#include <cstdio>

#include "base/Error.h"
#include "base/Time.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/OutputOption.h"
#include "cli/StoreAccess.h"
#include "display/DisplayIndex.h"
#include "display/PngFile.h"
#include "display/SegmentRecovery.h"
#include "display/ScreenHistory.h"
#include "recorder/Session.h"

namespace deja::cli {

namespace {

std::string session_time(const db::SessionRow& session, double unix_seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "@%.3f", unix_seconds - session.started);
  return iso_time(unix_seconds) + " (" + session.id + buf + ")";
}

// Moments no recording can cover: before the session, after it, or not yet.
void check_within_session(OpenStore& s, const db::SessionRow& session, double when) {
  const std::string moment = iso_time(when);
  if (when < session.started)
    throw Error(moment + " is before session " + session.id + " started, at " +
                iso_time(session.started) + ": ask for a time after that");
  if (recorder::recorder_alive(s.store, session.id)) {
    const double now = unix_now();
    if (when > now)
      throw Error(moment + " is in the future: session " + session.id +
                  " is still recording and it is now " + session_time(session, now));
  } else if (session.stopped && when > *session.stopped) {
    throw Error(moment + " is after session " + session.id + " ended, at " +
                session_time(session, *session.stopped));
  }
}

std::string miss_message(const db::SessionRow& session, double when,
                         const display::ScreenAt& screen) {
  using Miss = display::ScreenAt::Miss;
  const std::string id = session.id;
  switch (screen.miss) {
    case Miss::never:
      return "session " + id + " has no recorded screen (was it recorded with --no-display?)";
    case Miss::before_first:
      return iso_time(when) + " is before the first recorded frame of session " + id +
             ", at " + session_time(session, screen.first_ms / 1000.0) +
             ": the screen was still starting";
    case Miss::gap:
      return iso_time(when) + " is in a gap of session " + id +
             "'s screen recording: from " + session_time(session, screen.gap_from_ms / 1000.0) +
             (screen.gap_to_ms ? " to " + session_time(session, *screen.gap_to_ms / 1000.0)
                               : std::string(" on")) +
             " the display recorder was stopped or paused";
    case Miss::none:
      break;
  }
  return "session " + id + " has no frame at " + iso_time(when);
}

}  // namespace

int cmd_frame(const Invocation& inv) {
  Args args(long_output_option(inv.words), {}, {"output"});
  SessionRef ref = parse_session_ref(args.one_positional("SESSION@T"));
  const std::string out = output_option(args, "FILE.png (where to write the frame)");
  OpenStore s = open_store(inv);
  db::SessionRow session = recorder::known_session(*s.catalog, ref.session);
  double when = 0;
  if (ref.seconds) {
    when = session.started + *ref.seconds;
  } else if (ref.unix_time) {
    when = *ref.unix_time;
  } else if (ref.crid) {
    auto c = s.catalog->find_checkpoint(ref.session, db::Crid{*ref.crid});
    if (!c)
      throw Error("session " + ref.session + " has no checkpoint " + std::to_string(*ref.crid));
    when = c->time;
  } else {
    throw Error("say when: SESSION@T (seconds since start or ISO-8601 UTC) or SESSION:CRID");
  }
  check_within_session(s, session, when);
  display::DisplayIndex index(s.store.catalog_path());
  // A recorder that died left its last segment open; bring it back before looking.
  display::recover_open_segments(index, s.store.recordings_dir());
  // Nearest millisecond: a time printed by `deja search` (t to the millisecond) must land
  // on the frame it came from, not one millisecond before it.
  const auto ms = static_cast<int64_t>(std::llround(when * 1000));
  display::ScreenAt screen = display::ScreenHistory(index, s.store.recordings_dir()).at(session.id, ms);
  if (!screen.frame) throw Error(miss_message(session, when, screen));
  display::write_png(*screen.frame, out);
  return 0;
}

}  // namespace deja::cli
