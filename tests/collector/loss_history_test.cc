// LossHistory: loss smoothed across windows — bursts damped, lasting changes
// followed, the same window never counted twice, memory bounded.
#include "collector/loss_history.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vantage::collector {
namespace {

constexpr absl::Duration kWindow = absl::Seconds(2);
const absl::Time kT0 = absl::FromUnixSeconds(1'000'000);

TEST(LossHistoryTest, OffIsTheLatestWindowAlone) {
  LossHistory h(absl::ZeroDuration());
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 0, 20, 3, kT0), 0.15);
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 0, 20, 0, kT0 + kWindow), 0.0);
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 0, 0, 0, kT0 + 2 * kWindow), 0.0);
  EXPECT_EQ(h.size(), 0u);
}

TEST(LossHistoryTest, OneBurstInOneWindowIsDamped) {
  LossHistory h(absl::Seconds(30));
  double loss = 0;
  for (int i = 0; i < 30; ++i) loss = h.Update("a", "eu", 0, 20, 0, kT0 + i * kWindow);
  EXPECT_DOUBLE_EQ(loss, 0.0);
  // 3 of 20 lost in one window: 15 % raw.
  loss = h.Update("a", "eu", 0, 20, 3, kT0 + 30 * kWindow);
  // Decayed history of 30 windows of 20 probes, half-life 15 windows:
  // sum 20 * (1 - 2^(-30/15)) / (1 - 2^(-1/15)) ≈ 330 probes, plus this window.
  EXPECT_GT(loss, 0.005);
  EXPECT_LT(loss, 0.012);
  // ... and it fades.
  for (int i = 31; i < 60; ++i) loss = h.Update("a", "eu", 0, 20, 0, kT0 + i * kWindow);
  EXPECT_LT(loss, 0.005);
}

TEST(LossHistoryTest, ALastingChangeShowsWithinAFewHalfLives) {
  LossHistory h(absl::Seconds(30));
  for (int i = 0; i < 60; ++i) h.Update("a", "eu", 0, 20, 0, kT0 + i * kWindow);
  double loss = 0;
  int i = 60;
  for (; i < 75; ++i) loss = h.Update("a", "eu", 0, 20, 4, kT0 + i * kWindow);  // 30 s at 20 %
  EXPECT_GT(loss, 0.09);
  EXPECT_LT(loss, 0.12);
  for (; i < 105; ++i) loss = h.Update("a", "eu", 0, 20, 4, kT0 + i * kWindow);  // 90 s
  EXPECT_GT(loss, 0.17);
  EXPECT_LE(loss, 0.2);
}

TEST(LossHistoryTest, TheSameWindowIsNotCountedTwice) {
  LossHistory h(absl::Seconds(30));
  const double first = h.Update("a", "eu", 0, 20, 2, kT0);
  EXPECT_DOUBLE_EQ(first, 0.1);
  // The control loop rebuilds the graph from the same latest window.
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 0, 20, 2, kT0), first);
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 0, 20, 2, kT0 - kWindow), first);  // an older replay
  // A different path or method has its own history.
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 1, 10, 0, kT0), 0.0);
  EXPECT_DOUBLE_EQ(h.Update("b", "eu", 0, 10, 5, kT0), 0.5);
  EXPECT_EQ(h.size(), 3u);
  // Lost never exceeds sent, whatever a report claims.
  EXPECT_LE(h.Update("c", "us", 0, 10, 50, kT0), 1.0);
}

TEST(LossHistoryTest, OldPathsAreForgotten) {
  LossHistory h(absl::Seconds(30), absl::Minutes(1));
  h.Update("a", "eu", 0, 20, 2, kT0);
  h.Update("b", "eu", 0, 20, 2, kT0 + absl::Seconds(50));
  h.Forget(kT0 + absl::Seconds(70));
  EXPECT_EQ(h.size(), 1u);
  // A forgotten path starts afresh.
  EXPECT_DOUBLE_EQ(h.Update("a", "eu", 0, 20, 0, kT0 + absl::Seconds(72)), 0.0);
}

}  // namespace
}  // namespace vantage::collector
