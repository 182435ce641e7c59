#include <gtest/gtest.h>

#include "base/Error.h"
#include "cli/Args.h"
#include "cli/Format.h"

namespace deja::cli {
namespace {

TEST(SessionRef, ParsesCridSecondsAndIsoTimes) {
  auto a = parse_session_ref("ab12:7");
  EXPECT_EQ(a.session, "ab12");
  EXPECT_EQ(a.crid, 7u);
  auto b = parse_session_ref("ab12@12.5");
  EXPECT_EQ(b.seconds, 12.5);
  auto c = parse_session_ref("ab12@2026-11-21T23:05:00Z");
  ASSERT_TRUE(c.unix_time);
  // A whole second names all of it; milliseconds name that millisecond.
  EXPECT_EQ(iso_time(*c.unix_time), "2026-11-21T23:05:00.999Z");
  auto d = parse_session_ref("ab12@2026-11-21T23:05:00.250Z");
  EXPECT_EQ(iso_time(*d.unix_time), "2026-11-21T23:05:00.250Z");
  EXPECT_THROW(parse_session_ref("ab12@soon"), Error);
  EXPECT_THROW(parse_session_ref(":3"), Error);
}

TEST(Args, SplitsFlagsOptionsAndCommand) {
  Args a({"--name", "n", "--detach", "--interval=0.5", "--", "sh", "--name"}, {"detach"},
         {"name", "interval"});
  EXPECT_TRUE(a.flag("detach"));
  EXPECT_EQ(a.option("name"), "n");
  EXPECT_EQ(a.number_option("interval"), 0.5);
  EXPECT_EQ(a.rest(), (std::vector<std::string>{"sh", "--name"}));
}

TEST(Args, RejectsUnknownOptionsAndBadNumbers) {
  EXPECT_THROW(Args({"--bogus"}, {}, {}), Error);
  EXPECT_THROW(Args({"--interval"}, {}, {"interval"}), Error);
  Args bad({"--interval", "-1"}, {}, {"interval"});
  EXPECT_THROW(bad.number_option("interval"), Error);
}

}  // namespace
}  // namespace deja::cli
