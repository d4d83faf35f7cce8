#include "lab/loss_model.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vantage::lab {
namespace {

TEST(LossModelTest, NoLossNeverLoses) {
  std::mt19937_64 rng(1);
  LossModel m(0.0, std::nullopt);
  for (int i = 0; i < 10000; ++i) ASSERT_FALSE(m.Lose(rng));
}

TEST(LossModelTest, BernoulliRateIsWithinFiveSigma) {
  std::mt19937_64 rng(7);
  LossModel m(0.1, std::nullopt);
  const int n = 100000;
  int lost = 0;
  for (int i = 0; i < n; ++i) lost += m.Lose(rng) ? 1 : 0;
  const double sigma = std::sqrt(n * 0.1 * 0.9);
  EXPECT_NEAR(lost, n * 0.1, 5 * sigma);
}

TEST(LossModelTest, GilbertElliottRateAndBurstLength) {
  std::mt19937_64 rng(11);
  // Bad 1/(1+9) of the time, losing everything there; mean burst 1/0.09 packets.
  const GilbertElliottParams ge{0.01, 0.09, 0.0, 1.0};
  LossModel m(0.0, ge);
  const int n = 400000;
  int lost = 0;
  int bursts = 0;
  bool previous = false;
  for (int i = 0; i < n; ++i) {
    const bool l = m.Lose(rng);
    lost += l ? 1 : 0;
    if (l && !previous) ++bursts;
    previous = l;
  }
  EXPECT_NEAR(static_cast<double>(lost) / n, ge.StationaryLoss(), 0.01);
  EXPECT_NEAR(static_cast<double>(lost) / bursts, 1 / 0.09, 1.5);
}

TEST(LossModelTest, ReconfigureToZeroStopsLoss) {
  std::mt19937_64 rng(3);
  LossModel m(1.0, GilbertElliottParams{1.0, 0.0, 1.0, 1.0});
  EXPECT_TRUE(m.Lose(rng));
  EXPECT_TRUE(m.in_bad_state());
  m.Reconfigure(0.0, std::nullopt);
  EXPECT_FALSE(m.in_bad_state());
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(m.Lose(rng));
}

}  // namespace
}  // namespace vantage::lab
