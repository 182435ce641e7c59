#include "ui/LiveActivity.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "base/Error.h"
#include "db/Database.h"
#include "display/VideoReader.h"
#include "ui/Activity.h"

namespace deja::ui {

LiveFrameTimes::LiveFrameTimes(std::string catalog, std::string recordings)
    : catalog_(std::move(catalog)), recordings_(std::move(recordings)) {}

LiveFrameTimes::~LiveFrameTimes() = default;

std::vector<double> LiveFrameTimes::read(const std::string& session, double started) {
  std::lock_guard lock(mutex_);
  // Rows first, open segments after: a segment finished in between is missed once (until
  // the next read), never counted twice.
  std::vector<double> times = recorded_frame_times(catalog_, session, started);
  std::vector<std::pair<std::string, int64_t>> open;  // file, start_ms
  {
    db::Database db(catalog_);
    db::Statement q(db,
                    "SELECT file, start_ms FROM display_segments WHERE session = ? AND "
                    "state = 'open'");
    q.bind(1, session);
    while (q.step()) open.emplace_back(q.text(0), q.int64(1));
  }
  const auto start_ms = static_cast<int64_t>(std::llround(started * 1000));
  for (const auto& [file, segment_ms] : open)
    for (int64_t pts : frames_of(session, file))
      times.push_back(double(segment_ms + pts - start_ms) / 1000.0);
  // Readers of this session's segments finished since are closed; other sessions' stay.
  std::erase_if(open_, [&](const auto& kept) {
    return kept.second.session == session &&
           std::none_of(open.begin(), open.end(), [&](const auto& o) { return o.first == kept.first; });
  });
  std::sort(times.begin(), times.end());
  return times;
}

const std::vector<int64_t>& LiveFrameTimes::frames_of(const std::string& session,
                                                      const std::string& file) {
  Open& o = open_[file];
  o.session = session;
  try {
    if (!o.reader) {
      o.reader = std::make_unique<display::VideoReader>(recordings_ + "/" + file);
      o.pts_ms.clear();
    }
    std::vector<int64_t> more = o.reader->packet_times(o.pts_ms.empty() ? -1 : o.pts_ms.back());
    o.pts_ms.insert(o.pts_ms.end(), more.begin(), more.end());
  } catch (const Error&) {
    // Just opened (its header not written yet: no frame either), or a kept reader that can
    // no longer seek: read it afresh next time, with what is known so far.
    o.reader.reset();
  }
  return o.pts_ms;
}

}  // namespace deja::ui
