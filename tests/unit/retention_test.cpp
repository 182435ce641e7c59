#include "recorder/Retention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "base/Error.h"

namespace deja::recorder {
namespace {

TEST(Retention, KeepsAllRecentThenOneAMinuteThenOneAnHour) {
  const double now = 1'000'000'000;
  const double hour = 3600, day = 86400;
  // Aligned to bucket starts so each pair shares one bucket.
  double old_hour = std::floor((now - 3 * day) / hour) * hour;
  double old_minute = std::floor((now - 2 * hour) / 60) * 60;
  std::vector<AgedCheckpoint> cs = {
      {1, old_hour + 60},  {2, old_hour + 120},   // same hour: 2 stays
      {3, old_minute + 5}, {4, old_minute + 10},  // same minute: 4 stays
      {5, now - 30},       {6, now - 20},         // recent: both stay
  };
  EXPECT_EQ(checkpoints_to_keep(cs, now, {}), (std::set<uint64_t>{2, 4, 5, 6}));
}

TEST(Retention, OneADayBeyondTheHourlyAge) {
  const double now = 1'000'000'000;
  const double hour = 3600, day = 86400;
  double old_day = std::floor((now - 40 * day) / day) * day;
  std::vector<AgedCheckpoint> cs = {
      {1, old_day + 2 * hour}, {2, old_day + 9 * hour},  // same day, 40 days ago: 2 stays
      {3, now - 10 * day},     {4, now - 10 * day + 2 * hour},  // 10 days ago: hourly
  };
  EXPECT_EQ(checkpoints_to_keep(cs, now, {}), (std::set<uint64_t>{2, 3, 4}));
  RetentionPolicy hourly_forever{3600, 86400, 1e12};
  EXPECT_EQ(checkpoints_to_keep(cs, now, hourly_forever), (std::set<uint64_t>{1, 2, 3, 4}));
}

TEST(Retention, NewestAlwaysStaysAndPolicyIsConfigurable) {
  std::vector<AgedCheckpoint> cs = {{1, 100}, {2, 110}};
  RetentionPolicy none{0, 0};
  // Both are in one hour bucket; the newest stays even with nothing recent.
  EXPECT_EQ(checkpoints_to_keep(cs, 1e9, none), (std::set<uint64_t>{2}));
  EXPECT_EQ(checkpoints_to_keep({}, 1e9, none), std::set<uint64_t>{});
}

TEST(Retention, ParsesDurations) {
  EXPECT_EQ(parse_duration("90"), 90);
  EXPECT_EQ(parse_duration("30m"), 1800);
  EXPECT_EQ(parse_duration("2d"), 172800);
  EXPECT_THROW(parse_duration("soon"), Error);
  EXPECT_THROW(parse_duration("5y"), Error);
}

}  // namespace
}  // namespace deja::recorder
