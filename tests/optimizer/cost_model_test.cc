#include "optimizer/cost_model.h"

#include <gtest/gtest.h>

namespace vantage::optimizer {
namespace {

using graph::Measurement;
using graph::Method;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

class CostModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pop_ = *g_.AddPop({.name = "a", .capacity = 1});
    region_ = *g_.AddRegion({.name = "r", .demand = 1});
    g_.set_freshness({.half_life = absl::Minutes(1), .expiry = absl::Minutes(10)});
  }
  Measurement M(double p50, double p99, double loss, uint64_t samples, absl::Time t,
                Method method = Method::kIcmp) {
    Measurement m;
    m.method = method;
    m.rtt_p50_ms = p50;
    m.rtt_p90_ms = p50;
    m.rtt_p99_ms = p99;
    m.loss = loss;
    m.samples = samples;
    m.updated = t;
    return m;
  }
  graph::AnycastGraph g_;
  graph::PopId pop_ = 0;
  graph::RegionId region_ = 0;
};

TEST_F(CostModelTest, FormulaAsDocumented) {
  ASSERT_TRUE(g_.RecordMeasurement(pop_, region_, M(10, 30, 0.01, 1000, kT0)).ok());
  Measurement dns = M(10, 30, 0, 1000, kT0, Method::kDns);
  dns.dns_ms = 8;
  ASSERT_TRUE(g_.RecordMeasurement(pop_, region_, dns).ok());
  CostModel model({.median_weight = 1,
                   .tail_weight = 0.25,
                   .loss_penalty_ms = 2000,
                   .dns_weight = 0.5,
                   .min_samples = 50,
                   .thin_data_penalty_ms = 20});
  // 10 + 0.25 * 20 + 2000 * 0.01 + 0.5 * 8 = 39, plenty of samples.
  EXPECT_DOUBLE_EQ(*model.PathCost(g_, *g_.FindPath(pop_, region_), kT0), 39.0);
}

TEST_F(CostModelTest, ThinAndOldDataPayConfidencePenalty) {
  ASSERT_TRUE(g_.RecordMeasurement(pop_, region_, M(10, 10, 0, 25, kT0)).ok());
  CostModel model(
      {.tail_weight = 0, .dns_weight = 0, .min_samples = 50, .thin_data_penalty_ms = 20});
  const graph::Path& p = *g_.FindPath(pop_, region_);
  EXPECT_DOUBLE_EQ(*model.PathCost(g_, p, kT0), 10 + 20 * 0.5);
  // One half-life later only 12.5 fresh samples remain.
  EXPECT_DOUBLE_EQ(*model.PathCost(g_, p, kT0 + absl::Minutes(1)), 10 + 20 * 0.75);
}

TEST_F(CostModelTest, ExpiredDataHasNoCost) {
  ASSERT_TRUE(g_.RecordMeasurement(pop_, region_, M(10, 10, 0, 100, kT0)).ok());
  CostModel model({});
  EXPECT_TRUE(model.PathCost(g_, *g_.FindPath(pop_, region_), kT0 + absl::Minutes(9)).has_value());
  EXPECT_FALSE(
      model.PathCost(g_, *g_.FindPath(pop_, region_), kT0 + absl::Minutes(11)).has_value());
}

TEST_F(CostModelTest, PrefersMethodWithMostFreshSamples) {
  ASSERT_TRUE(g_.RecordMeasurement(pop_, region_, M(10, 10, 0, 100, kT0)).ok());
  ASSERT_TRUE(g_.RecordMeasurement(pop_, region_, M(20, 20, 0, 1000, kT0, Method::kTcp)).ok());
  CostModel model({.tail_weight = 0, .min_samples = 0});
  EXPECT_DOUBLE_EQ(*model.PathCost(g_, *g_.FindPath(pop_, region_), kT0), 20);
}

}  // namespace
}  // namespace vantage::optimizer
