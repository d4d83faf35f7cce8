#include "optimizer/what_if.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/snapshot_json.h"
#include "optimizer/result_json.h"

namespace vantage::optimizer {
namespace {

graph::AnycastGraph Lab() {
  auto g = graph::ReadSnapshotFile(VANTAGE_GRAPH_TESTDATA "/lab_snapshot.json");
  EXPECT_TRUE(g.ok()) << g.status();
  return *std::move(g);
}

OptimizerConfig Config() {
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  return cfg;
}

TEST(WhatIfTest, PopFailureMovesItsTraffic) {
  const graph::AnycastGraph g = Lab();
  Scenario s;
  s.failed_pops = {"ams"};
  auto r = WhatIf(g, s, Config(), g.snapshot_time());
  ASSERT_TRUE(r.ok()) << r.status();
  const auto ams = static_cast<size_t>(*g.FindPop("ams"));
  EXPECT_GT(r->pops[ams].load_before, 0);
  EXPECT_EQ(r->pops[ams].load_immediate, 0);
  EXPECT_EQ(r->pops[ams].load_after, 0);
  EXPECT_EQ(r->pops[ams].ceiling_after, 0);
  double before = 0, immediate = 0, after = 0;
  for (const PopImpact& p : r->pops) {
    before += p.load_before;
    immediate += p.load_immediate;
    after += p.load_after;
  }
  // Traffic is conserved: it moves, it does not vanish.
  EXPECT_NEAR(before, immediate, 1e-9 * before);
  EXPECT_NEAR(before, after, 1e-9 * before);
  for (const RegionPlan& plan : r->after.regions) {
    for (const WeightShare& w : plan.weights) EXPECT_NE(static_cast<size_t>(w.pop), ams);
  }
  EXPECT_GE(r->objective_immediate, r->objective_before);
}

TEST(WhatIfTest, DegradationCapacityAndDemand) {
  const graph::AnycastGraph g = Lab();
  Scenario s;
  s.degradations = {{"lhr", "uk", 40, 0.01}};
  s.capacities = {{"fra", 100}};
  s.demands = {{"nl", 600}};
  auto changed = ApplyScenario(g, s);
  ASSERT_TRUE(changed.ok()) << changed.status();
  const auto lhr = *g.FindPop("lhr");
  const auto uk = *g.FindRegion("uk");
  EXPECT_DOUBLE_EQ(changed->FindPath(lhr, uk)->measurements[0].rtt_p50_ms,
                   g.FindPath(lhr, uk)->measurements[0].rtt_p50_ms + 40);
  EXPECT_DOUBLE_EQ(changed->pop(*g.FindPop("fra")).capacity, 100);
  EXPECT_DOUBLE_EQ(changed->region(*g.FindRegion("nl")).demand, 600);
  auto r = WhatIf(g, s, Config(), g.snapshot_time());
  ASSERT_TRUE(r.ok()) << r.status();
  const RegionImpact& ri = r->regions[static_cast<size_t>(uk)];
  EXPECT_GT(ri.cost_immediate, ri.cost_before + 39);
  EXPECT_LE(ri.cost_after, ri.cost_immediate);
  // EU is exactly full: rounding may add up to a quantum of de (400 / 1024).
  EXPECT_LE(r->pops[static_cast<size_t>(*g.FindPop("fra"))].load_after, 0.8 * 100 + 400.0 / 1024);
}

TEST(WhatIfTest, Errors) {
  const graph::AnycastGraph g = Lab();
  Scenario s;
  s.failed_pops = {"nope"};
  EXPECT_EQ(WhatIf(g, s, Config(), g.snapshot_time()).status().code(), absl::StatusCode::kNotFound);
  s = Scenario();
  s.degradations = {{"nyc", "nl", 5, 0}};  // never measured
  EXPECT_THAT(std::string(ApplyScenario(g, s).status().message()), ::testing::HasSubstr("missing"));
  s = Scenario();
  s.capacities = {{"ams", -5}};
  EXPECT_FALSE(ApplyScenario(g, s).ok());
}

TEST(ResultJsonTest, HasTheTableFields) {
  const graph::AnycastGraph g = Lab();
  auto r = Optimize(g, OptimizerConfig(), g.snapshot_time());
  ASSERT_TRUE(r.ok());
  const auto j = nlohmann::json::parse(OptimizationResultToJson(g, *r));
  EXPECT_EQ(j["regions"].size(), static_cast<size_t>(g.region_count()));
  EXPECT_EQ(j["pops"].size(), static_cast<size_t>(g.pop_count()));
  EXPECT_TRUE(j["n1"]["checked"].get<bool>());
  double sum = 0;
  for (const auto& [pop, w] : j["regions"][0]["weights"].items()) sum += w.get<double>();
  EXPECT_EQ(sum, 1.0);
  EXPECT_TRUE(j["regions"][0].contains("current_weights"));
  EXPECT_DOUBLE_EQ(j["objective"].get<double>(), r->objective);
}

}  // namespace
}  // namespace vantage::optimizer
