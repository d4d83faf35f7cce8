// The N-1 fields of `vantagectl optimize|whatif --json` (optimizer/result_json.h):
// requested, outcome (off / met / infeasible / best_effort), excess, lower
// bound and, per failed PoP, which PoPs overload by how much.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "graph/anycast_graph.h"
#include "optimizer/result_json.h"
#include "optimizer/weight_optimizer.h"
#include "optimizer/what_if.h"

namespace vantage::optimizer {
namespace {

using graph::AnycastGraph;
using nlohmann::json;

// PoPs of capacity 100 (ceiling 80) named a, b, c...; one region of
// `demand` measured from every PoP (RTT 10, 15, 20... ms).
AnycastGraph Star(int pops, double demand) {
  AnycastGraph g;
  const auto r = *g.AddRegion({.name = "r", .demand = demand});
  for (int i = 0; i < pops; ++i) {
    const auto p = *g.AddPop({.name = std::string(1, static_cast<char>('a' + i)), .capacity = 100});
    graph::Measurement m;
    m.samples = 1000;
    m.updated = g.snapshot_time();
    m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 10 + 5 * i;
    EXPECT_TRUE(g.RecordMeasurement(p, r, m).ok());
  }
  return g;
}

json OptimizeJson(const AnycastGraph& g, const OptimizerConfig& cfg) {
  auto r = Optimize(g, cfg, g.snapshot_time());
  EXPECT_TRUE(r.ok()) << r.status();
  return json::parse(OptimizationResultToJson(g, *r));
}

TEST(N1JsonTest, ProvenInfeasibleListsEachFailureAndWhatOverloads) {
  const AnycastGraph g = Star(2, 120);  // either PoP alone must carry 120 > 80
  const json n1 = OptimizeJson(g, OptimizerConfig{})["n1"];
  EXPECT_TRUE(n1["requested"].get<bool>());
  EXPECT_TRUE(n1["checked"].get<bool>());
  EXPECT_EQ(n1["outcome"], "infeasible");
  EXPECT_FALSE(n1["satisfied"].get<bool>());
  EXPECT_TRUE(n1["infeasible"].get<bool>());
  // 40 for each failure, proven: the best found is optimal.
  EXPECT_NEAR(n1["min_excess_bound"].get<double>(), 80, 1e-9);
  EXPECT_NEAR(n1["excess"].get<double>(), 80, 1e-9);
  EXPECT_EQ(n1["failure_bounds"].size(), 2u);
  ASSERT_TRUE(n1["infeasible_failure"].is_string());
  ASSERT_EQ(n1["failures"].size(), 2u);
  std::vector<std::string> failed;
  for (const json& f : n1["failures"]) {
    failed.push_back(f["failed_pop"]);
    EXPECT_NEAR(f["excess"].get<double>(), 40, 1e-9);
    EXPECT_NEAR(f["min_excess_bound"].get<double>(), 40, 1e-9);
    ASSERT_EQ(f["overloaded"].size(), 1u);
    const json& o = f["overloaded"][0];
    EXPECT_NE(o["pop"], f["failed_pop"]);
    EXPECT_NEAR(o["load"].get<double>(), 120, 1e-9);
    EXPECT_NEAR(o["ceiling"].get<double>(), 80, 1e-9);
    EXPECT_NEAR(o["over"].get<double>(), 40, 1e-9);
  }
  std::sort(failed.begin(), failed.end());
  EXPECT_EQ(failed, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(n1["violations"].size(), 2u);
}

TEST(N1JsonTest, MetHasNoFailures) {
  const AnycastGraph g = Star(3, 150);  // thirds: 75 after any failure
  const json n1 = OptimizeJson(g, OptimizerConfig{})["n1"];
  EXPECT_EQ(n1["outcome"], "met");
  EXPECT_TRUE(n1["satisfied"].get<bool>());
  EXPECT_FALSE(n1["infeasible"].get<bool>());
  EXPECT_EQ(n1["excess"].get<double>(), 0);
  EXPECT_EQ(n1["min_excess_bound"].get<double>(), 0);
  EXPECT_TRUE(n1["infeasible_failure"].is_null());
  EXPECT_TRUE(n1["failures"].empty());
  EXPECT_TRUE(n1["failure_bounds"].empty());
}

TEST(N1JsonTest, OffWhenNotRequested) {
  const AnycastGraph g = Star(3, 150);
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  const json n1 = OptimizeJson(g, cfg)["n1"];
  EXPECT_FALSE(n1["requested"].get<bool>());
  EXPECT_FALSE(n1["checked"].get<bool>());
  EXPECT_EQ(n1["outcome"], "off");
}

TEST(N1JsonTest, NotCheckedWithOnePop) {
  const AnycastGraph g = Star(1, 50);
  const json n1 = OptimizeJson(g, OptimizerConfig{})["n1"];
  EXPECT_TRUE(n1["requested"].get<bool>());
  EXPECT_FALSE(n1["checked"].get<bool>());
  EXPECT_EQ(n1["outcome"], "not_checked");
}

TEST(N1JsonTest, OutcomeAndImpactByFailure) {
  OptimizationResult r;
  EXPECT_EQ(N1Outcome(r), "off");
  r.n1_requested = true;
  EXPECT_EQ(N1Outcome(r), "not_checked");
  r.n1_checked = true;
  EXPECT_EQ(N1Outcome(r), "best_effort");
  r.n1_infeasible = true;
  EXPECT_EQ(N1Outcome(r), "infeasible");
  r.n1_infeasible = false;
  r.n1_satisfied = true;
  EXPECT_EQ(N1Outcome(r), "met");
  r.n1_violations = {{.failed = 1, .overloaded = 0, .load = 11, .ceiling = 10},
                     {.failed = 2, .overloaded = 0, .load = 16, .ceiling = 10},
                     {.failed = 1, .overloaded = 3, .load = 14, .ceiling = 10}};
  const std::vector<N1FailureImpact> by = N1ImpactByFailure(r);
  ASSERT_EQ(by.size(), 2u);
  EXPECT_EQ(by[0].failed, 2);  // worst failure first: 6 > 1 + 4
  EXPECT_DOUBLE_EQ(by[0].excess, 6);
  EXPECT_EQ(by[1].failed, 1);
  EXPECT_DOUBLE_EQ(by[1].excess, 5);
  ASSERT_EQ(by[1].overloaded.size(), 2u);
  EXPECT_EQ(by[1].overloaded[0].overloaded, 3);  // most over first
  EXPECT_EQ(by[1].overloaded[1].overloaded, 0);
}

TEST(N1JsonTest, WhatIfFailureSaysWhichPopsGoOverImmediately) {
  // Without N-1 headroom the cheapest PoPs fill to their ceilings; failing
  // one of them overloads the others immediately.
  const AnycastGraph g = Star(3, 150);
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  Scenario s;
  s.failed_pops = {"a"};
  auto w = WhatIf(g, s, cfg, g.snapshot_time());
  ASSERT_TRUE(w.ok()) << w.status();
  const json j = json::parse(WhatIfResultToJson(g, *w));
  int over = 0;
  for (const json& p : j["pops"]) {
    const bool flagged = p["over_ceiling_immediately"].get<bool>();
    const double excess = p["load_immediate"].get<double>() - p["ceiling_after"].get<double>();
    EXPECT_EQ(flagged, excess > 1e-9) << p.dump();
    EXPECT_NEAR(p["over_immediately"].get<double>(), std::max(0.0, excess), 1e-9);
    over += flagged ? 1 : 0;
  }
  EXPECT_GE(over, 1);
  EXPECT_EQ(j["after"]["n1"]["outcome"], "off");
}

}  // namespace
}  // namespace vantage::optimizer
