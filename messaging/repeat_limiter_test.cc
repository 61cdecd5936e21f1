#include "messaging/repeat_limiter.h"

#include "gtest/gtest.h"

namespace ken {
namespace {

TEST(RepeatLimiterTest, OncePerKeyPerWindowWithTheCount) {
  FakeClock clock;
  RepeatLimiter limiter(&clock, 60000);
  EXPECT_EQ(limiter.Note("a"), 1u);  // the first is logged at once
  for (int i = 0; i < 9; ++i) EXPECT_EQ(limiter.Note("a"), 0u);
  EXPECT_EQ(limiter.Note("b"), 1u);  // another source is its own
  clock.Advance(59999);
  EXPECT_EQ(limiter.Note("a"), 0u);
  clock.Advance(1);
  EXPECT_EQ(limiter.Note("a"), 11u);  // 10 not logged, and this one
  EXPECT_EQ(limiter.Note("a"), 0u);
  clock.Advance(120000);
  EXPECT_EQ(limiter.Note("a"), 2u);
  EXPECT_EQ(limiter.Note("b"), 1u);  // b was quiet: a line for one
}

TEST(RepeatLimiterTest, ManySourcesShareOneKeyPastTheLimit) {
  FakeClock clock;
  RepeatLimiter limiter(&clock, 60000, 3);
  EXPECT_EQ(limiter.Note("a"), 1u);
  EXPECT_EQ(limiter.Note("b"), 1u);
  EXPECT_EQ(limiter.Note("c"), 1u);
  EXPECT_EQ(limiter.Note("d"), 1u);  // the first of "(other sources)"
  EXPECT_EQ(limiter.Note("e"), 0u);  // counted with d
  clock.Advance(60000);
  EXPECT_EQ(limiter.Note("f"), 1u);  // a, b, c were quiet a window: forgotten
}

}  // namespace
}  // namespace ken
