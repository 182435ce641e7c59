// Which checkpoints to keep as they age: every one of the recent past, one a minute for a
// while, one an hour for longer, one a day after that (as Snapper's timeline does). Pure policy over (CRID, time) pairs; deleting is elsewhere.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace deja::recorder {

struct RetentionPolicy {
  double keep_all_for = 3600;        // seconds: keep every checkpoint this recent
  double keep_minutely_for = 86400;  // then one a minute up to this age
  double keep_hourly_for = 30 * 86400;  // then one an hour up to this age; one a day beyond
};

struct AgedCheckpoint {
  uint64_t crid;
  double time;  // Unix seconds
};

/// The CRIDs to keep of one session's checkpoints at time `now`. In each minute (hour, day)
/// the latest checkpoint stays; the session's latest checkpoint always stays.
std::set<uint64_t> checkpoints_to_keep(const std::vector<AgedCheckpoint>& checkpoints, double now,
                                       const RetentionPolicy& policy);

/// Parses durations such as 90s, 30m, 1h, 2d (or plain seconds).
double parse_duration(const std::string& text);

}  // namespace deja::recorder
