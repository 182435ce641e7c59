#include "recorder/Retention.h"

#include <cmath>
#include <cstdlib>
#include <map>

#include "base/Error.h"

namespace deja::recorder {

std::set<uint64_t> checkpoints_to_keep(const std::vector<AgedCheckpoint>& checkpoints, double now,
                                       const RetentionPolicy& policy) {
  std::set<uint64_t> keep;
  // Latest checkpoint per bucket; buckets of different widths never share a key because the
  // width is part of it.
  std::map<std::pair<int, int64_t>, AgedCheckpoint> latest;
  const AgedCheckpoint* newest = nullptr;
  for (const auto& c : checkpoints) {
    if (!newest || c.time > newest->time) newest = &c;
    double age = now - c.time;
    if (age <= policy.keep_all_for) {
      keep.insert(c.crid);
      continue;
    }
    int width = age <= policy.keep_minutely_for ? 60
                : age <= policy.keep_hourly_for   ? 3600
                                                  : 86400;
    auto key = std::make_pair(width, static_cast<int64_t>(std::floor(c.time / width)));
    auto it = latest.find(key);
    if (it == latest.end() || c.time > it->second.time) latest[key] = c;
  }
  for (const auto& [key, c] : latest) keep.insert(c.crid);
  if (newest) keep.insert(newest->crid);
  return keep;
}

double parse_duration(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit(end);
  double scale = unit.empty() || unit == "s" ? 1
                 : unit == "m"               ? 60
                 : unit == "h"               ? 3600
                 : unit == "d"               ? 86400
                                             : -1;
  if (text.empty() || end == text.c_str() || scale < 0 || v < 0)
    throw Error("bad duration '" + text + "': use seconds or a number with s, m, h or d");
  return v * scale;
}

}  // namespace deja::recorder
