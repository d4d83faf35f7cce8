#include "core/clock.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace vantage {
namespace {

TEST(FakeClockTest, AdvancesBothClocksTogether) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  const absl::Time mono = clock.MonotonicNow();
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000) + absl::Milliseconds(1500));
  EXPECT_EQ(clock.MonotonicNow() - mono, absl::Milliseconds(1500));
}

TEST(FakeClockTest, WallStepDoesNotMoveMonotonic) {
  FakeClock clock;
  const absl::Time mono = clock.MonotonicNow();
  clock.SetWallTime(absl::FromUnixSeconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(5));
  EXPECT_EQ(clock.MonotonicNow(), mono);
}

TEST(FakeClockDeathTest, NegativeAdvanceIsABug) {
  FakeClock clock;
  EXPECT_DEATH(clock.Advance(absl::Seconds(-1)), "");
}

TEST(RealClockTest, MonotonicNeverGoesBackwards) {
  const Clock& clock = RealClock::Get();
  absl::Time last = clock.MonotonicNow();
  for (int i = 0; i < 1000; ++i) {
    const absl::Time now = clock.MonotonicNow();
    ASSERT_GE(now, last);
    last = now;
  }
  // Wall time is close to what absl reports.
  EXPECT_LT(absl::AbsDuration(clock.Now() - absl::Now()), absl::Seconds(1));
}

}  // namespace
}  // namespace vantage
