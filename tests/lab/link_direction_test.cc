#include "lab/link_direction.h"

#include <gtest/gtest.h>

namespace vantage::lab {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(LinkDirectionTest, DelaysByTheConfiguredAmount) {
  std::mt19937_64 rng(1);
  LinkParams p;
  p.delay = absl::Milliseconds(10);
  LinkDirection d(p);
  auto dep = d.Admit(kT0, rng);
  ASSERT_TRUE(dep);
  EXPECT_EQ(*dep, kT0 + absl::Milliseconds(10));
  EXPECT_EQ(d.counters().queued, 1u);
  d.Departed();
  EXPECT_EQ(d.counters().queued, 0u);
  EXPECT_EQ(d.counters().delivered, 1u);
}

TEST(LinkDirectionTest, JitterStaysInBoundsAndKeepsFifoOrder) {
  std::mt19937_64 rng(5);
  LinkParams p;
  p.delay = absl::Milliseconds(10);
  p.jitter = absl::Milliseconds(5);
  p.queue_limit = 100000;
  LinkDirection d(p);
  absl::Time previous = absl::InfinitePast();
  absl::Duration min_delay = absl::InfiniteDuration();
  for (int i = 0; i < 10000; ++i) {
    const absl::Time now = kT0 + absl::Microseconds(100 * i);
    auto dep = d.Admit(now, rng);
    ASSERT_TRUE(dep);
    EXPECT_GE(*dep, previous);  // never overtakes
    previous = *dep;
  }
  // Spaced wider than the jitter, FIFO order does not bind: the delays
  // spread over [5 ms, 15 ms].
  absl::Duration max_delay = absl::ZeroDuration();
  for (int i = 0; i < 1000; ++i) {
    const absl::Time now = kT0 + absl::Seconds(10) + absl::Milliseconds(20 * i);
    auto dep = d.Admit(now, rng);
    ASSERT_TRUE(dep);
    EXPECT_GE(*dep - now, absl::Milliseconds(5));
    EXPECT_LE(*dep - now, absl::Milliseconds(15));
    min_delay = std::min(min_delay, *dep - now);
    max_delay = std::max(max_delay, *dep - now);
  }
  EXPECT_LT(min_delay, absl::Milliseconds(6));
  EXPECT_GT(max_delay, absl::Milliseconds(14));
}

TEST(LinkDirectionTest, ReorderWhenAllowed) {
  std::mt19937_64 rng(5);
  LinkParams p;
  p.delay = absl::Milliseconds(10);
  p.jitter = absl::Milliseconds(5);
  p.allow_reorder = true;
  LinkDirection d(p);
  int overtaken = 0;
  absl::Time previous = absl::InfinitePast();
  for (int i = 0; i < 500; ++i) {
    auto dep = d.Admit(kT0 + absl::Microseconds(100 * i), rng);
    ASSERT_TRUE(dep);
    if (*dep < previous) ++overtaken;
    previous = *dep;
  }
  EXPECT_GT(overtaken, 10);
}

TEST(LinkDirectionTest, BoundedQueueDropsAndCounts) {
  std::mt19937_64 rng(1);
  LinkParams p;
  p.delay = absl::Milliseconds(10);
  p.queue_limit = 3;
  LinkDirection d(p);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(d.Admit(kT0, rng));
  EXPECT_FALSE(d.Admit(kT0, rng));
  EXPECT_EQ(d.counters().queue_dropped, 1u);
  d.Departed();
  EXPECT_TRUE(d.Admit(kT0, rng));
  EXPECT_EQ(d.counters().received, 5u);
}

TEST(LinkDirectionTest, ShorterDelayAfterChangeDoesNotOvertake) {
  std::mt19937_64 rng(1);
  LinkParams p;
  p.delay = absl::Milliseconds(50);
  LinkDirection d(p);
  auto first = d.Admit(kT0, rng);
  p.delay = absl::Milliseconds(1);
  d.SetParams(p);
  auto second = d.Admit(kT0 + absl::Milliseconds(1), rng);
  ASSERT_TRUE(first && second);
  EXPECT_GE(*second, *first);
  auto later = d.Admit(kT0 + absl::Milliseconds(100), rng);
  EXPECT_EQ(*later, kT0 + absl::Milliseconds(101));
}

TEST(LinkDirectionTest, LossIsCounted) {
  std::mt19937_64 rng(1);
  LinkParams p;
  p.loss = 1.0;
  LinkDirection d(p);
  EXPECT_FALSE(d.Admit(kT0, rng));
  EXPECT_EQ(d.counters().lost, 1u);
  EXPECT_EQ(d.counters().queued, 0u);
}

}  // namespace
}  // namespace vantage::lab
