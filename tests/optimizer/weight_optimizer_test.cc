#include "optimizer/weight_optimizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "graph/instance_generator.h"
#include "graph/snapshot_json.h"
#include "tests/optimizer/test_util.h"

namespace vantage::optimizer {
namespace {

using graph::AnycastGraph;
using graph::GenerateInstance;
using testing::IndependentFailureLoads;
using testing::WeightOf;

void ExpectValidWeights(const AnycastGraph& g, const OptimizationResult& r,
                        const OptimizerConfig& cfg) {
  ASSERT_EQ(r.regions.size(), static_cast<size_t>(g.region_count()));
  for (const RegionPlan& plan : r.regions) {
    ASSERT_FALSE(plan.weights.empty()) << g.region(plan.region).name;
    int64_t parts = 0;
    double sum = 0;
    for (const WeightShare& s : plan.weights) {
      EXPECT_GT(s.parts, 0);
      EXPECT_TRUE(g.pop(s.pop).healthy);
      parts += s.parts;
      sum += s.weight;
    }
    EXPECT_EQ(parts, cfg.weight_denominator);
    if ((cfg.weight_denominator & (cfg.weight_denominator - 1)) == 0) {
      EXPECT_EQ(sum, 1.0);
    }
    // Never a surprise withdraw: every PoP the LP uses keeps a part.
    for (const Candidate& c : plan.candidates) {
      if (c.lp_weight > 1e-9) {
        EXPECT_GT(WeightOf(plan, c.pop), 0);
      }
    }
  }
}

void ExpectNoPopOverCeiling(const OptimizationResult& r) {
  for (const PopLoad& p : r.pops) {
    EXPECT_LE(p.load, p.ceiling * (1 + 1e-9) + 1e-9) << "pop " << p.pop;
  }
}

OptimizerConfig NoN1() {
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  return cfg;
}

TEST(WeightOptimizerTest, WeightsValidAndWithinCeiling) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    AnycastGraph g = GenerateInstance(
        {.regions = 400, .pops = 20, .paths_per_region = 10, .capacity_factor = 1.6, .seed = seed});
    const OptimizerConfig cfg = NoN1();
    auto r = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectValidWeights(g, *r, cfg);
    ExpectNoPopOverCeiling(*r);
    EXPECT_FALSE(r->demand_exceeds_capacity);
    EXPECT_LE(r->objective, r->total_demand * cfg.cost.max_cost_ms);
  }
}

TEST(WeightOptimizerTest, CapacityBindsAndMovesTraffic) {
  AnycastGraph g;
  const auto a = *g.AddPop({.name = "near", .capacity = 100});
  const auto b = *g.AddPop({.name = "far", .capacity = 1000});
  const auto r = *g.AddRegion({.name = "r", .demand = 100});
  graph::Measurement m;
  m.samples = 1000;
  m.updated = g.snapshot_time();
  m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 10;
  ASSERT_TRUE(g.RecordMeasurement(a, r, m).ok());
  m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 30;
  ASSERT_TRUE(g.RecordMeasurement(b, r, m).ok());
  OptimizerConfig cfg = NoN1();
  cfg.utilisation_ceiling = 0.5;  // near takes at most 50
  auto res = Optimize(g, cfg, g.snapshot_time());
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_DOUBLE_EQ(WeightOf(res->regions[0], a), 0.5);
  EXPECT_DOUBLE_EQ(WeightOf(res->regions[0], b), 0.5);
  EXPECT_DOUBLE_EQ(res->objective, 100 * (0.5 * 10 + 0.5 * 30));
  EXPECT_DOUBLE_EQ(res->pops[0].load, 50);
}

TEST(WeightOptimizerTest, Deterministic) {
  // Tight (N-1 not achievable), so every N-1 stage runs: SLP, conservative
  // steps, repair, bounds.
  AnycastGraph g =
      GenerateInstance({.regions = 400, .pops = 16, .capacity_factor = 1.4, .seed = 11});
  OptimizerConfig cfg;
  auto r1 = Optimize(g, cfg, g.snapshot_time());
  auto r2 = Optimize(AnycastGraph(g), cfg, g.snapshot_time());
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_EQ(r1->regions.size(), r2->regions.size());
  for (size_t i = 0; i < r1->regions.size(); ++i) {
    ASSERT_EQ(r1->regions[i].weights.size(), r2->regions[i].weights.size());
    for (size_t k = 0; k < r1->regions[i].weights.size(); ++k) {
      EXPECT_EQ(r1->regions[i].weights[k].pop, r2->regions[i].weights[k].pop);
      EXPECT_EQ(r1->regions[i].weights[k].parts, r2->regions[i].weights[k].parts);
    }
  }
  EXPECT_EQ(r1->objective, r2->objective);
  EXPECT_EQ(r1->lp_objective, r2->lp_objective);
  EXPECT_EQ(r1->n1_excess, r2->n1_excess);
  EXPECT_EQ(r1->n1_min_excess_bound, r2->n1_min_excess_bound);
}

// Sets the graph's current weights to the result's.
void Adopt(AnycastGraph& g, const OptimizationResult& r) {
  for (const RegionPlan& plan : r.regions) {
    std::vector<graph::PopWeight> w;
    for (const WeightShare& s : plan.weights) w.push_back({s.pop, s.weight});
    ASSERT_TRUE(g.SetCurrentWeights(plan.region, w).ok());
  }
}

// Adds `delta_ms` to every quantile of every measurement of one path.
void Shift(AnycastGraph& g, const graph::Path& path, double delta_ms) {
  for (graph::Measurement m : path.measurements) {
    m.rtt_p50_ms += delta_ms;
    m.rtt_p90_ms += delta_ms;
    m.rtt_p99_ms += delta_ms;
    if (m.dns_ms.has_value()) m.dns_ms = *m.dns_ms;  // DNS time unchanged
    ASSERT_TRUE(g.RecordMeasurement(path.pop, path.region, m).ok());
  }
}

TEST(WeightOptimizerTest, NoiseBelowStabilityThresholdMovesNothing) {
  for (double factor : {3.0, 1.5}) {  // roomy and tighter capacity
    AnycastGraph g = GenerateInstance(
        {.regions = 300, .pops = 15, .paths_per_region = 8, .capacity_factor = factor, .seed = 21});
    OptimizerConfig cfg = NoN1();
    cfg.stability_cost_ms = 4.0;
    cfg.cost.median_weight = 1.0;
    auto first = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(first.ok());
    ExpectNoPopOverCeiling(*first);
    Adopt(g, *first);
    // Re-solving the unchanged input keeps everything.
    auto again = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(again.ok());
    for (const RegionPlan& plan : again->regions) {
      EXPECT_EQ(plan.moved, 0) << factor << " region " << plan.region;
      if (plan.moved > 0) {
        for (const Candidate& c : plan.candidates) {
          std::cerr << "  pop " << c.pop << " cost " << c.cost_ms << " cur " << c.current_weight
                    << " lp " << c.lp_weight << " new " << WeightOf(plan, c.pop) << "\n";
        }
        for (const std::string& n : again->notes) std::cerr << n << "\n";
      }
    }
    // Noise strictly below stability / 2 per path.
    uint64_t state = 12345;
    for (const graph::Path* p : g.AllPaths()) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      const double u = static_cast<double>(state >> 11) * 0x1.0p-53;  // [0, 1)
      const graph::Path copy = *p;
      Shift(g, copy, std::max(-copy.measurements.front().rtt_p50_ms, (u - 0.5) * 3.9));
    }
    auto noisy = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(noisy.ok());
    int moved = 0;
    for (const RegionPlan& plan : noisy->regions) {
      if (plan.moved > 0) {
        ++moved;
        std::cerr << "factor " << factor << " region " << plan.region << " moved " << plan.moved
                  << "\n";
        for (const Candidate& c : plan.candidates) {
          std::cerr << "  pop " << c.pop << " cost " << c.cost_ms << " cur " << c.current_weight
                    << " lp " << c.lp_weight << " new " << WeightOf(plan, c.pop) << "\n";
        }
      }
    }
    EXPECT_EQ(moved, 0) << "capacity factor " << factor;
    // A change well above the threshold does move traffic.
    OptimizerConfig loose = cfg;
    loose.stability_cost_ms = 0;
    auto moved_result = Optimize(g, loose, g.snapshot_time());
    ASSERT_TRUE(moved_result.ok());
    double total_moved = 0;
    for (const RegionPlan& plan : moved_result->regions) total_moved += plan.moved;
    EXPECT_GT(total_moved, 0) << factor;
  }
}

TEST(WeightOptimizerTest, MaxChangePerCycle) {
  AnycastGraph g = GenerateInstance(
      {.regions = 200, .pops = 10, .paths_per_region = 6, .capacity_factor = 2.5, .seed = 5});
  OptimizerConfig cfg = NoN1();
  auto start = Optimize(g, cfg, g.snapshot_time());
  ASSERT_TRUE(start.ok());
  Adopt(g, *start);
  // PoP 0 gets much worse everywhere: its regions want to leave entirely.
  for (const graph::Path* p : g.AllPaths()) {
    if (p->pop == 0) {
      const graph::Path copy = *p;
      Shift(g, copy, 80);
    }
  }
  cfg.max_weight_change = 0.25;
  cfg.stability_cost_ms = 0;
  auto r = Optimize(g, cfg, g.snapshot_time());
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectValidWeights(g, *r, cfg);
  const double quantum = 1.0 / static_cast<double>(cfg.weight_denominator);
  int changed = 0;
  for (const RegionPlan& plan : r->regions) {
    if (plan.change_limit_relaxed) continue;
    for (const Candidate& c : plan.candidates) {
      const double w = WeightOf(plan, c.pop);
      EXPECT_LE(std::fabs(w - c.current_weight), 0.25 + quantum + 1e-12);
      if (w != c.current_weight) ++changed;
    }
  }
  EXPECT_GT(changed, 0);
}

TEST(WeightOptimizerTest, N1HeadroomVerifiedBySimulatingEveryFailure) {
  for (uint64_t seed : {2u, 3u, 4u}) {
    AnycastGraph g = GenerateInstance(
        {.regions = 300, .pops = 12, .paths_per_region = 8, .capacity_factor = 2.2, .seed = seed});
    OptimizerConfig cfg;  // n1_headroom on
    ASSERT_TRUE(cfg.n1_headroom);
    auto r = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectValidWeights(g, *r, cfg);
    ExpectNoPopOverCeiling(*r);
    EXPECT_TRUE(r->n1_checked);
    int violations = 0;
    for (graph::PopId f = 0; f < g.pop_count(); ++f) {
      const std::vector<double> load = IndependentFailureLoads(*r, f);
      const std::vector<double> lib = SimulateFailure(*r, f);
      for (size_t p = 0; p < load.size(); ++p) {
        EXPECT_NEAR(load[p], lib[p], 1e-9 * (1 + load[p]));
        if (static_cast<graph::PopId>(p) == f) continue;
        if (load[p] > r->pops[p].ceiling * (1 + 1e-9) + 1e-9) ++violations;
      }
    }
    EXPECT_EQ(violations, static_cast<int>(r->n1_violations.size())) << seed;
    if (r->n1_satisfied) {
      EXPECT_EQ(violations, 0);
    }
    EXPECT_TRUE(r->n1_satisfied) << "seed " << seed << ": " << r->n1_violations.size()
                                 << " violations after " << r->n1_iterations << " re-solves";
    for (const N1Violation& v : r->n1_violations) {
      std::cerr << "fail " << v.failed << " overloads " << v.overloaded << " " << v.load << " > "
                << v.ceiling << "\n";
    }
  }
}

TEST(WeightOptimizerTest, N1ReportsWhatItCannotFix) {
  // Two PoPs, each can carry the region alone only at 2x its ceiling.
  AnycastGraph g;
  const auto a = *g.AddPop({.name = "a", .capacity = 100});
  const auto b = *g.AddPop({.name = "b", .capacity = 100});
  const auto r = *g.AddRegion({.name = "r", .demand = 120});
  graph::Measurement m;
  m.samples = 1000;
  m.updated = g.snapshot_time();
  m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 10;
  ASSERT_TRUE(g.RecordMeasurement(a, r, m).ok());
  ASSERT_TRUE(g.RecordMeasurement(b, r, m).ok());
  OptimizerConfig cfg;
  cfg.utilisation_ceiling = 0.8;
  auto res = Optimize(g, cfg, g.snapshot_time());
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_FALSE(res->n1_satisfied);
  ASSERT_EQ(res->n1_violations.size(), 2u);
  EXPECT_DOUBLE_EQ(res->n1_violations[0].load, 120);
  ExpectNoPopOverCeiling(*res);  // normal operation still fits
}

TEST(WeightOptimizerTest, InfeasibleDemandShedsProportionally) {
  AnycastGraph g = GenerateInstance(
      {.regions = 300, .pops = 12, .paths_per_region = 12, .capacity_factor = 0.6, .seed = 9});
  OptimizerConfig cfg;
  cfg.candidates_per_region = 0;
  auto r = Optimize(g, cfg, g.snapshot_time());
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectValidWeights(g, *r, cfg);
  EXPECT_TRUE(r->demand_exceeds_capacity);
  EXPECT_NEAR(r->demand_scale, r->total_ceiling / r->total_demand, 1e-12);
  EXPECT_FALSE(r->notes.empty());
  // Each PoP carries at most its ceiling / demand_scale, plus rounding: less
  // than one quantum of each region's demand on it.
  std::vector<double> rounding(r->pops.size(), 0.0);
  for (const RegionPlan& plan : r->regions) {
    for (const WeightShare& s : plan.weights) {
      rounding[static_cast<size_t>(s.pop)] +=
          plan.demand / static_cast<double>(cfg.weight_denominator);
    }
  }
  for (const PopLoad& p : r->pops) {
    EXPECT_LE(p.load, p.ceiling / r->demand_scale + rounding[static_cast<size_t>(p.pop)] + 1e-9);
  }
}

TEST(WeightOptimizerTest, UnhealthyAndMissingPaths) {
  auto g = graph::ReadSnapshotFile(VANTAGE_GRAPH_TESTDATA "/lab_snapshot.json");
  ASSERT_TRUE(g.ok()) << g.status();
  const auto nyc = *g->FindPop("nyc");
  ASSERT_TRUE(g->SetPopHealthy(nyc, false).ok());
  const auto lonely = *g->AddRegion({.name = "nowhere", .demand = 5});
  OptimizerConfig cfg = NoN1();
  auto r = Optimize(*g, cfg, g->snapshot_time());
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectValidWeights(*g, *r, cfg);
  for (const RegionPlan& plan : r->regions) EXPECT_EQ(WeightOf(plan, nyc), 0);
  ASSERT_EQ(r->unmeasured_regions.size(), 1u);
  EXPECT_EQ(r->unmeasured_regions[0], lonely);
  // us-east lost its only measured... no: it still has lhr and ams paths.
  const auto us = *g->FindRegion("us-east");
  EXPECT_FALSE(r->regions[static_cast<size_t>(us)].unmeasured);
  EXPECT_GT(r->regions[static_cast<size_t>(us)].moved, 0.99);
}

// Counts (failed, overloaded) pairs by simulating every single-PoP failure
// with the test's own spreading code.
int CountN1Violations(const AnycastGraph& g, const OptimizationResult& r) {
  int violations = 0;
  for (graph::PopId f = 0; f < g.pop_count(); ++f) {
    const std::vector<double> load = IndependentFailureLoads(r, f);
    for (size_t p = 0; p < load.size(); ++p) {
      if (static_cast<graph::PopId>(p) == f) continue;
      if (load[p] > r.pops[p].ceiling * (1 + 1e-9) + 1e-9) ++violations;
    }
  }
  return violations;
}

// Sum over PoPs of the worst overload any single failure (or none) causes.
double N1Excess(const AnycastGraph& g, const OptimizationResult& r) {
  std::vector<double> worst(r.pops.size(), 0.0);
  for (size_t p = 0; p < r.pops.size(); ++p) worst[p] = r.pops[p].load;
  for (graph::PopId f = 0; f < g.pop_count(); ++f) {
    const std::vector<double> load = IndependentFailureLoads(r, f);
    for (size_t p = 0; p < load.size(); ++p) worst[p] = std::max(worst[p], load[p]);
  }
  double excess = 0;
  for (size_t p = 0; p < worst.size(); ++p) excess += std::max(0.0, worst[p] - r.pops[p].ceiling);
  return excess;
}

TEST(WeightOptimizerTest, N1HoldsOnLabSnapshot) {
  // The lab snapshot is N-1 feasible (every PoP failure leaves enough
  // ceiling); the N-1 linear program plus the repair after it meet it.
  auto g = graph::ReadSnapshotFile(VANTAGE_GRAPH_TESTDATA "/lab_snapshot.json");
  ASSERT_TRUE(g.ok()) << g.status();
  OptimizerConfig cfg;
  auto r = Optimize(*g, cfg, g->snapshot_time());
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectValidWeights(*g, *r, cfg);
  ExpectNoPopOverCeiling(*r);
  EXPECT_TRUE(r->n1_checked);
  const double excess = N1Excess(*g, *r);
  std::cerr << "lab: N-1 violations " << CountN1Violations(*g, *r) << ", excess " << excess
            << ", repair moves " << r->n1_repair_moves << "\n";
  EXPECT_TRUE(r->n1_satisfied) << r->n1_violations.size() << " violations";
  EXPECT_EQ(CountN1Violations(*g, *r), 0);
  EXPECT_EQ(excess, 0);
  // Deterministic.
  auto again = Optimize(*g, cfg, g->snapshot_time());
  ASSERT_TRUE(again.ok());
  for (size_t i = 0; i < r->regions.size(); ++i) {
    ASSERT_EQ(r->regions[i].weights.size(), again->regions[i].weights.size());
    for (size_t k = 0; k < r->regions[i].weights.size(); ++k) {
      EXPECT_EQ(r->regions[i].weights[k].parts, again->regions[i].weights[k].parts);
    }
  }
  // The N-1 linear program alone (no repair) leaves one violation here; the
  // repair after it never makes things worse.
  cfg.n1_repair_max_moves = 0;
  auto plain = Optimize(*g, cfg, g->snapshot_time());
  ASSERT_TRUE(plain.ok());
  std::cerr << "lab without repair: N-1 violations " << CountN1Violations(*g, *plain) << ", excess "
            << N1Excess(*g, *plain) << "\n";
  EXPECT_LE(excess, N1Excess(*g, *plain));
}

TEST(WeightOptimizerTest, N1RepairNeverWorsensAndReportsExactly) {
  // Tighter generated instances: whatever remains is reported exactly, and
  // the repair never leaves more violation than re-solving alone.
  for (uint64_t seed : {5u, 6u, 7u}) {
    AnycastGraph g = GenerateInstance(
        {.regions = 400, .pops = 16, .paths_per_region = 8, .capacity_factor = 1.5, .seed = seed});
    OptimizerConfig cfg;
    auto r = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectValidWeights(g, *r, cfg);
    ExpectNoPopOverCeiling(*r);
    EXPECT_EQ(CountN1Violations(g, *r), static_cast<int>(r->n1_violations.size()));
    const double with = N1Excess(g, *r);
    cfg.n1_repair_max_moves = 0;
    auto plain = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(plain.ok());
    const double without = N1Excess(g, *plain);
    std::cerr << "seed " << seed << ": N-1 pairs " << CountN1Violations(g, *plain) << " -> "
              << CountN1Violations(g, *r) << ", excess " << without << " -> " << with
              << " (repair moves " << r->n1_repair_moves << ")\n";
    EXPECT_LE(with, without * (1 + 1e-9) + 1e-9);
  }
}

TEST(WeightOptimizerTest, RejectsBadConfig) {
  AnycastGraph g = GenerateInstance({.regions = 5, .pops = 2});
  OptimizerConfig cfg;
  cfg.utilisation_ceiling = 0;
  EXPECT_FALSE(Optimize(g, cfg, g.snapshot_time()).ok());
  cfg = OptimizerConfig();
  cfg.overload_penalty_ms = 10;
  EXPECT_FALSE(Optimize(g, cfg, g.snapshot_time()).ok());
  cfg = OptimizerConfig();
  cfg.weight_denominator = 0;
  EXPECT_FALSE(Optimize(g, cfg, g.snapshot_time()).ok());
}

}  // namespace
}  // namespace vantage::optimizer
