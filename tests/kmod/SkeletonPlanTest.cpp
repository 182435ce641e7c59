// The plan a revive hands to deja-skeleton: it round-trips, and a damaged or foreign plan is
// refused rather than built into a wrong tree.
#include <gtest/gtest.h>

#include "kmod/skeleton/SkeletonPlan.h"

namespace deja::kmod {
namespace {

std::vector<SkeletonMember> desktop_like() {
  return {{1, 0, 1, 1, false, 0, {1}},
          {2, 1, 1, 2, false, 0, {2, 7, 8}},
          {3, 1, 3, 3, true, 9 << 8, {3}},
          {40, 1, 40, 40, false, 0, {40, 41}}};
}

TEST(SkeletonPlan, RoundTrips) {
  auto back = decode_skeleton_plan(encode_skeleton_plan(desktop_like()));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 4u);
  const SkeletonMember& zombie = (*back)[2];
  EXPECT_TRUE(zombie.zombie);
  EXPECT_EQ(zombie.exit_status, 9 << 8);
  EXPECT_EQ((*back)[1].tids, (std::vector<int32_t>{2, 7, 8}));
  EXPECT_EQ((*back)[3].sid, 40);
  EXPECT_EQ((*back)[3].ppid, 1);
}

TEST(SkeletonPlan, EveryTruncationAndTrailingByteIsRefused) {
  std::string plan = encode_skeleton_plan(desktop_like());
  for (size_t n = 0; n < plan.size(); ++n)
    EXPECT_FALSE(decode_skeleton_plan(plan.substr(0, n))) << "cut at " << n;
  EXPECT_FALSE(decode_skeleton_plan(plan + "x"));
}

TEST(SkeletonPlan, ForeignBytesAreRefused) {
  std::string plan = encode_skeleton_plan(desktop_like());
  plan[0] ^= 1;  // the magic word
  EXPECT_FALSE(decode_skeleton_plan(plan));
  EXPECT_FALSE(decode_skeleton_plan("not a plan at all"));
}

}  // namespace
}  // namespace deja::kmod
