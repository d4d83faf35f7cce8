#include "probe/probe_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

namespace vantage::probe {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(5000);

TEST(ProbeSchedulerTest, FirstRoundsAreSpreadOverOneInterval) {
  ProbeScheduler scheduler({.jitter = 0.1, .random_phase = true, .max_rounds = 1, .seed = 7});
  for (uint32_t t = 0; t < 1000; ++t) scheduler.AddTarget(t, absl::Seconds(1), kT0);
  std::set<int64_t> due_ms;
  absl::Time now = kT0;
  uint32_t target = 0;
  int popped = 0;
  for (int ms = 0; ms <= 1000; ++ms) {
    now = kT0 + absl::Milliseconds(ms);
    while (scheduler.PopDue(now, &target)) {
      ++popped;
      due_ms.insert(std::min(ms / 100, 9));
    }
  }
  EXPECT_EQ(popped, 1000);
  EXPECT_EQ(due_ms.size(), 10u);  // every tenth of the interval got some
  EXPECT_TRUE(scheduler.done());
}

TEST(ProbeSchedulerTest, JitterStaysWithinBoundsAndKeepsCadence) {
  ProbeScheduler scheduler({.jitter = 0.2, .random_phase = false, .max_rounds = 0, .seed = 3});
  scheduler.AddTarget(0, absl::Milliseconds(100), kT0);
  std::vector<absl::Time> dues;
  for (int i = 0; i < 200; ++i) {
    const absl::Time due = *scheduler.NextDue();
    dues.push_back(due);
    uint32_t t = 9;
    ASSERT_TRUE(scheduler.PopDue(due, &t));
    EXPECT_EQ(t, 0u);
  }
  EXPECT_EQ(dues[0], kT0);
  bool varied = false;
  for (size_t i = 1; i < dues.size(); ++i) {
    const absl::Duration step = dues[i] - dues[i - 1];
    EXPECT_GE(step, absl::Milliseconds(80));
    EXPECT_LE(step, absl::Milliseconds(120));
    if (step != absl::Milliseconds(100)) varied = true;
  }
  EXPECT_TRUE(varied);
  // Mean step stays the interval: 199 steps of 100 ms ± a few percent.
  EXPECT_NEAR(absl::ToDoubleMilliseconds(dues.back() - dues.front()), 19900, 19900 * 0.03);
}

TEST(ProbeSchedulerTest, PerTargetIntervalsAndRoundLimit) {
  ProbeScheduler scheduler({.jitter = 0, .random_phase = false, .max_rounds = 3, .seed = 1});
  scheduler.AddTarget(0, absl::Milliseconds(10), kT0);
  scheduler.AddTarget(1, absl::Milliseconds(30), kT0);
  std::map<uint32_t, std::vector<int64_t>> rounds;
  uint32_t t = 0;
  for (int ms = 0; ms < 200; ++ms) {
    while (scheduler.PopDue(kT0 + absl::Milliseconds(ms), &t)) rounds[t].push_back(ms);
  }
  EXPECT_EQ(rounds[0], (std::vector<int64_t>{0, 10, 20}));
  EXPECT_EQ(rounds[1], (std::vector<int64_t>{0, 30, 60}));
  EXPECT_TRUE(scheduler.done());
  EXPECT_FALSE(scheduler.NextDue().has_value());
}

}  // namespace
}  // namespace vantage::probe
