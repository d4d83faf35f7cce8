#include "lab/residual_histogram.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vantage::lab {
namespace {

TEST(ResidualHistogramTest, QuantilesAreExactToHalfAMicrosecondNearZero) {
  ResidualHistogram h;
  EXPECT_TRUE(std::isnan(h.QuantileUs(0.5)));
  // -3.2, -0.4, 0.3, 1.7, 12.9 us: the median is 0.3 us, in bin [0, 1).
  for (double us : {-3.2, -0.4, 0.3, 1.7, 12.9}) h.Add(absl::Nanoseconds(std::llround(us * 1000)));
  EXPECT_EQ(h.count(), 5u);
  EXPECT_DOUBLE_EQ(h.QuantileUs(0.5), 0.5);
  EXPECT_DOUBLE_EQ(h.QuantileUs(0.01), -3.5);
  EXPECT_DOUBLE_EQ(h.QuantileUs(0.4), -0.5);
  EXPECT_DOUBLE_EQ(h.QuantileUs(0.99), 12.5);
}

TEST(ResidualHistogramTest, OutOfRangeValuesLandInTheEndBins) {
  ResidualHistogram h;
  h.Add(absl::Milliseconds(-3));
  h.Add(absl::Milliseconds(2));
  h.Add(absl::Microseconds(ResidualHistogram::kRangeUs));  // the first value beyond the range
  EXPECT_DOUBLE_EQ(h.QuantileUs(0.1), -ResidualHistogram::kRangeUs);
  EXPECT_DOUBLE_EQ(h.QuantileUs(0.9), ResidualHistogram::kRangeUs);
}

TEST(ResidualHistogramTest, JsonHasQuantilesAndCoarseBuckets) {
  ResidualHistogram h;
  for (double us : {-60.0, -2.0, -1.5, 0.0, 1.9, 2.0, 49.9, 50.0, 500.0}) {
    h.Add(absl::Nanoseconds(std::llround(us * 1000)));
  }
  const nlohmann::json j = h.ToJson(true);
  EXPECT_EQ(j["count"], 9);
  EXPECT_DOUBLE_EQ(j["p50"].get<double>(), 1.5);
  const nlohmann::json& b = j["buckets"];
  EXPECT_EQ(b["<-50"], 1);
  EXPECT_EQ(b["<-2"], 0);
  EXPECT_EQ(b["<2"], 4);  // -2, -1.5, 0, 1.9
  EXPECT_EQ(b["<5"], 1);
  EXPECT_EQ(b["<50"], 1);
  EXPECT_EQ(b[">=50"], 2);
  uint64_t total = 0;
  for (const auto& [label, n] : b.items()) total += n.get<uint64_t>();
  EXPECT_EQ(total, 9u);
  EXPECT_FALSE(h.ToJson(false).contains("buckets"));
  EXPECT_TRUE(ResidualHistogram().ToJson(false)["p50"].is_null());
}

}  // namespace
}  // namespace vantage::lab
