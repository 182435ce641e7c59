#include "ui/Activity.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>

#include "base/Error.h"
#include "db/Database.h"

namespace deja::ui {

std::vector<double> recorded_frame_times(const std::string& catalog, const std::string& session,
                                         double started) {
  struct stat st {};
  // Database opens with SQLITE_OPEN_CREATE: never make an empty catalog where none is.
  if (::stat(catalog.c_str(), &st) != 0) throw Error("no catalog at " + catalog);
  db::Database db(catalog);
  db::Statement q(db,
                  "SELECT s.start_ms + f.pts_ms FROM display_segments s "
                  "JOIN display_frames f ON f.segment = s.id WHERE s.session = ?");
  q.bind(1, session);
  const auto start_ms = static_cast<int64_t>(std::llround(started * 1000));
  std::vector<double> times;
  while (q.step()) times.push_back(double(q.int64(0) - start_ms) / 1000.0);
  std::sort(times.begin(), times.end());  // cheaper here than an ORDER BY's temporary b-tree
  return times;
}

std::vector<RecordingGap> recording_gaps(const std::string& catalog, const std::string& session,
                                         double started) {
  struct stat st {};
  if (::stat(catalog.c_str(), &st) != 0) throw Error("no catalog at " + catalog);
  db::Database db(catalog);
  if (db.pragma_int("user_version") < 4) return {};  // before gaps were recorded
  db::Statement q(db,
                  "SELECT from_time, to_time, reason FROM recording_gaps WHERE session = ? "
                  "ORDER BY from_time, id");
  q.bind(1, session);
  std::vector<RecordingGap> gaps;
  while (q.step()) {
    RecordingGap g{q.real(0) - started, std::nullopt, q.text(2)};
    if (!q.is_null(1)) g.to = q.real(1) - started;
    gaps.push_back(std::move(g));
  }
  return gaps;
}

std::vector<int> per_second(const std::vector<double>& times) {
  std::vector<int> counts;
  for (double t : times) {
    if (t < 0) continue;
    const auto second = static_cast<size_t>(t);
    if (second >= counts.size()) counts.resize(second + 1, 0);
    ++counts[second];
  }
  return counts;
}

}  // namespace deja::ui
