#include "lab/write_lead_estimator.h"

#include <gtest/gtest.h>

namespace vantage::lab {
namespace {

TEST(WriteLeadEstimatorTest, StartsAtZeroAndFollowsTheMedianNotTheTail) {
  WriteLeadEstimator e;
  EXPECT_EQ(e.lead(), absl::ZeroDuration());
  // 7 us typically, with one sample in four far out (a late wake-up).
  for (int i = 0; i < 200; ++i) {
    e.Add(i % 4 == 3 ? absl::Microseconds(90) : absl::Microseconds(7));
  }
  EXPECT_EQ(e.lead(), absl::Microseconds(7));
  EXPECT_EQ(e.samples(), 200u);
}

TEST(WriteLeadEstimatorTest, ForgetsOldSamplesAfterAWindow) {
  WriteLeadEstimator e;
  for (size_t i = 0; i < WriteLeadEstimator::kWindow; ++i) e.Add(absl::Microseconds(20));
  for (size_t i = 0; i < WriteLeadEstimator::kWindow / 2; ++i) e.Add(absl::Microseconds(4));
  EXPECT_EQ(e.lead(), absl::Microseconds(20));  // still the majority
  for (size_t i = 0; i < WriteLeadEstimator::kWindow; ++i) e.Add(absl::Microseconds(4));
  EXPECT_EQ(e.lead(), absl::Microseconds(4));
}

TEST(WriteLeadEstimatorTest, WaitsForEnoughSamples) {
  WriteLeadEstimator e;
  for (size_t i = 1; i < WriteLeadEstimator::kMinSamples; ++i) e.Add(absl::Microseconds(90));
  EXPECT_EQ(e.lead(), absl::ZeroDuration());
  e.Add(absl::Microseconds(90));
  EXPECT_EQ(e.lead(), absl::Microseconds(90));
}

TEST(WriteLeadEstimatorTest, StaysWithinZeroAndTheMaximum) {
  WriteLeadEstimator e;
  // Receive stamps before the planned write.
  for (size_t i = 0; i < WriteLeadEstimator::kMinSamples; ++i) e.Add(absl::Microseconds(-5));
  EXPECT_EQ(e.lead(), absl::ZeroDuration());
  for (size_t i = 0; i < WriteLeadEstimator::kWindow; ++i) e.Add(absl::Milliseconds(3));
  EXPECT_EQ(e.lead(), WriteLeadEstimator::kMaxLead);
}

}  // namespace
}  // namespace vantage::lab
