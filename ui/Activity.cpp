#include "ui/Activity.h"

#include <sys/stat.h>

#include <cmath>

#include "base/Error.h"
#include "db/Database.h"

namespace deja::ui {

std::vector<int> screen_changes_per_second(const std::string& catalog,
                                           const std::string& session, double started) {
  struct stat st {};
  // Database opens with SQLITE_OPEN_CREATE: never make an empty catalog where none is.
  if (::stat(catalog.c_str(), &st) != 0) throw Error("no catalog at " + catalog);
  db::Database db(catalog);
  db::Statement q(db,
                  "SELECT s.start_ms + f.pts_ms FROM display_segments s "
                  "JOIN display_frames f ON f.segment = s.id WHERE s.session = ?");
  q.bind(1, session);
  const auto start_ms = static_cast<int64_t>(std::llround(started * 1000));
  std::vector<int> per_second;
  while (q.step()) {
    const int64_t ms = q.int64(0) - start_ms;
    if (ms < 0) continue;
    const auto second = static_cast<size_t>(ms / 1000);
    if (second >= per_second.size()) per_second.resize(second + 1, 0);
    ++per_second[second];
  }
  return per_second;
}

}  // namespace deja::ui
