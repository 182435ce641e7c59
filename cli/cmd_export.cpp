// deja export SESSION --from T1 --to T2 -o FILE.mp4: a clip of the recorded screen.
#include <cmath>
#include <cstdlib>
#include <optional>

#include "base/Error.h"
#include "cli/Args.h"
#include "cli/Format.h"
#include "cli/OutputOption.h"
#include "cli/StoreAccess.h"
#include "display/DisplayIndex.h"
#include "display/SegmentRecovery.h"
#include "display/VideoReader.h"
#include "display/VideoWriter.h"
#include "recorder/Session.h"

namespace deja::cli {
namespace {

// T as seconds since the session started or ISO-8601 UTC, in Unix milliseconds.
int64_t moment(const Args& args, const char* name, double started) {
  auto v = args.option(name);
  if (!v)
    throw Error(std::string("missing --") + name + " T (seconds since start or ISO-8601 UTC)");
  if (auto iso = parse_iso_time(*v)) return static_cast<int64_t>(std::llround(*iso * 1000));
  char* end = nullptr;
  double s = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || s < 0)
    throw Error("--" + std::string(name) + " needs seconds since the session started or an " +
                "ISO-8601 UTC time, got '" + *v + "'");
  return static_cast<int64_t>(std::llround((started + s) * 1000));
}

}  // namespace

int cmd_export(const Invocation& inv) {
  Args args(long_output_option(inv.words), {}, {"from", "to", "output"});
  const std::string& id = args.one_positional("SESSION");
  const std::string out = output_option(args, "FILE.mp4 (where to write the clip)");
  OpenStore s = open_store(inv);
  db::SessionRow session = recorder::known_session(*s.catalog, id);
  const int64_t from = moment(args, "from", session.started);
  const int64_t to = moment(args, "to", session.started);
  if (to <= from) throw Error("--to must come after --from");
  display::DisplayIndex index(s.store.catalog_path());
  display::recover_open_segments(index, s.store.recordings_dir());
  auto frames = index.frames_between(id, from, to);
  if (frames.empty())
    throw Error("session " + id + " has no recorded screen between " + iso_time(from / 1e3) +
                " and " + iso_time(to / 1e3));

  // Frames come in time order; each run of frames from one segment is decoded in one
  // pass from the keyframe before its first frame.
  std::optional<display::VideoWriter> writer;
  int width = 0, height = 0;
  int64_t last_pts = -1, last_key = 0;
  display::Frame last_frame;
  for (size_t i = 0; i < frames.size();) {
    const auto& seg = frames[i].segment;
    display::VideoReader reader(s.store.recordings_dir() + "/" + seg.file);
    reader.seek(frames[i].key_pts_ms);
    for (; i < frames.size() && frames[i].segment.id == seg.id; ++i) {
      display::DecodedFrame f = reader.decode_until(frames[i].pts_ms);
      if (!writer) {
        width = f.frame.width;
        height = f.frame.height;
        writer.emplace(out, width, height, display::VideoSettings{});
      }
      if (f.frame.width != width || f.frame.height != height)
        throw Error("the screen size changed within the clip; export shorter ranges");
      // The frame showing at --from starts the clip at 0.
      int64_t pts = std::max<int64_t>(frames[i].time_ms() - from, last_pts + 1);
      // A keyframe every two seconds, so players can seek in the clip.
      bool key = last_pts < 0 || pts - last_key >= 2000;
      writer->write(f.frame, pts, key);
      if (key) last_key = pts;
      last_pts = pts;
      last_frame = std::move(f.frame);
    }
  }
  // The last frame stays on screen until --to: repeat it there so the clip lasts that long.
  if (const int64_t end = to - from; end > last_pts) writer->write(last_frame, end, false);
  writer->finish();
  return 0;
}

}  // namespace deja::cli
