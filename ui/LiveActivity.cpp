#include "ui/LiveActivity.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/Error.h"
#include "db/Database.h"
#include "display/VideoReader.h"
#include "ui/Activity.h"

namespace deja::ui {

std::vector<double> frame_times_with_open_segments(const std::string& catalog,
                                                   const std::string& recordings,
                                                   const std::string& session, double started) {
  // Rows first, open segments after: a segment finished in between is missed once (until
  // the next read), never counted twice.
  std::vector<double> times = recorded_frame_times(catalog, session, started);
  std::vector<std::pair<std::string, int64_t>> open;  // file, start_ms
  {
    db::Database db(catalog);
    db::Statement q(db,
                    "SELECT file, start_ms FROM display_segments WHERE session = ? AND "
                    "state = 'open'");
    q.bind(1, session);
    while (q.step()) open.emplace_back(q.text(0), q.int64(1));
  }
  const auto start_ms = static_cast<int64_t>(std::llround(started * 1000));
  for (const auto& [file, segment_ms] : open) {
    std::vector<int64_t> pts;
    try {
      pts = display::VideoReader(recordings + "/" + file).packet_times();
    } catch (const Error&) {
      continue;  // just opened: its header is not written yet, so no frame is either
    }
    for (int64_t p : pts) times.push_back(double(segment_ms + p - start_ms) / 1000.0);
  }
  std::sort(times.begin(), times.end());
  return times;
}

}  // namespace deja::ui
