// deja frame SESSION@T -o FILE.png: the screen as it was at T.
#include <cmath>

#include "base/Error.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/OutputOption.h"
#include "cli/StoreAccess.h"
#include "display/DisplayIndex.h"
#include "display/PngFile.h"
#include "display/SegmentRecovery.h"
#include "display/VideoReader.h"
#include "recorder/Session.h"

namespace deja::cli {

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
  display::DisplayIndex index(s.store.catalog_path());
  // A recorder that died left its last segment open; bring it back before looking.
  display::recover_open_segments(index, s.store.recordings_dir());
  // Nearest millisecond: a time printed by `deja search` (t to the millisecond) must land
  // on the frame it came from, not one millisecond before it.
  const auto ms = static_cast<int64_t>(std::llround(when * 1000));
  auto loc = index.frame_at(ref.session, ms);
  if (!loc)
    throw Error("session " + ref.session + " has no recorded screen at or before " +
                iso_time(when) + " (was it recorded with --no-display, or is the moment " +
                "still in the segment being recorded? segments are indexed once finished)");
  display::VideoReader reader(s.store.recordings_dir() + "/" + loc->segment.file);
  reader.seek(loc->key_pts_ms);
  display::write_png(reader.decode_until(loc->pts_ms).frame, out);
  return 0;
}

}  // namespace deja::cli
