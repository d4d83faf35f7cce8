#include "optimizer/warm_flow_network.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace vantage::optimizer {
namespace {

// Random plans over `pops` PoPs: 1-4 candidates per region (some regions
// single-homed), tight ceilings, zero costs as the N-1 bounds use them.
std::vector<RegionPlan> RandomPlans(int regions, int pops, uint32_t seed,
                                    std::vector<double>* ceiling) {
  std::mt19937 rng(seed);
  std::vector<RegionPlan> plans(static_cast<size_t>(regions));
  double total = 0;
  for (RegionPlan& plan : plans) {
    plan.solved_demand = std::uniform_real_distribution<double>(1, 100)(rng);
    total += plan.solved_demand;
    const int k = std::uniform_int_distribution<int>(1, 4)(rng);
    std::vector<int> all(static_cast<size_t>(pops));
    for (int p = 0; p < pops; ++p) all[static_cast<size_t>(p)] = p;
    std::shuffle(all.begin(), all.end(), rng);
    std::sort(all.begin(), all.begin() + k);
    for (int i = 0; i < k; ++i) plan.candidates.push_back({all[static_cast<size_t>(i)], 0, 0, 0});
  }
  ceiling->assign(static_cast<size_t>(pops), 0);
  for (double& c : *ceiling)
    c = std::uniform_real_distribution<double>(0.5, 1.3)(rng) * total / pops;
  return plans;
}

// One network re-solved warm per failure gives, for every failure, the
// overflow of a cold solve with that PoP's capacity at 0.
TEST(WarmFlowNetworkTest, SolveFailuresEqualsAColdSolvePerFailure) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::vector<double> ceiling;
    const std::vector<RegionPlan> plans = RandomPlans(300, 12, seed, &ceiling);
    OptimizerConfig cfg;
    std::vector<graph::PopId> failures;
    for (int p = 0; p < 12; ++p) failures.push_back(p);
    // Out of order and repeated: each re-solve restores the others.
    failures.push_back(3);
    failures.push_back(0);
    absl::StatusOr<std::vector<double>> warm =
        WarmFlowNetwork::SolveFailures(plans, ceiling, cfg, failures);
    ASSERT_TRUE(warm.ok()) << warm.status();
    ASSERT_EQ(warm->size(), failures.size());
    bool some_overflow = false;
    for (size_t i = 0; i < failures.size(); ++i) {
      std::vector<double> usable = ceiling;
      usable[static_cast<size_t>(failures[i])] = 0;
      absl::StatusOr<WarmFlowNetwork::Solution> cold =
          WarmFlowNetwork::SolveOnce(plans, usable, cfg, false);
      ASSERT_TRUE(cold.ok()) << cold.status();
      EXPECT_NEAR((*warm)[i], cold->total_overflow, 1e-9 * (1 + cold->total_overflow))
          << "seed " << seed << " failure " << failures[i];
      some_overflow = some_overflow || cold->total_overflow > 1;
    }
    EXPECT_TRUE(some_overflow) << "seed " << seed << ": the instance should overload";
  }
}

TEST(WarmFlowNetworkTest, SolveFailuresRejectsAnUnknownPop) {
  std::vector<double> ceiling;
  const std::vector<RegionPlan> plans = RandomPlans(20, 4, 7, &ceiling);
  EXPECT_FALSE(WarmFlowNetwork::SolveFailures(plans, ceiling, OptimizerConfig(), {4}).ok());
  EXPECT_FALSE(WarmFlowNetwork::SolveFailures(plans, ceiling, OptimizerConfig(), {-1}).ok());
}

}  // namespace
}  // namespace vantage::optimizer
