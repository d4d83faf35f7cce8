// OptimizerSession: warm re-solves give exactly the stateless result.
#include "optimizer/optimizer_session.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "graph/instance_generator.h"
#include "optimizer/cost_model.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer {
namespace {

using graph::AnycastGraph;
using graph::GenerateInstance;

void ExpectSameResult(const OptimizationResult& a, const OptimizationResult& b) {
  ASSERT_EQ(a.regions.size(), b.regions.size());
  int differing = 0;
  for (size_t r = 0; r < a.regions.size(); ++r) {
    const auto& wa = a.regions[r].weights;
    const auto& wb = b.regions[r].weights;
    bool same = wa.size() == wb.size();
    for (size_t k = 0; same && k < wa.size(); ++k) {
      same = wa[k].pop == wb[k].pop && wa[k].parts == wb[k].parts;
    }
    if (!same) ++differing;
  }
  EXPECT_EQ(differing, 0);
  ASSERT_EQ(a.pops.size(), b.pops.size());
  for (size_t p = 0; p < a.pops.size(); ++p) {
    EXPECT_EQ(a.pops[p].load, b.pops[p].load) << p;
    EXPECT_EQ(a.pops[p].usable, b.pops[p].usable) << p;
  }
  EXPECT_EQ(a.objective, b.objective);
  EXPECT_NEAR(a.lp_objective, b.lp_objective, 1e-9 * std::max(1.0, std::fabs(a.lp_objective)));
  EXPECT_EQ(a.n1_satisfied, b.n1_satisfied);
  EXPECT_EQ(a.n1_violations.size(), b.n1_violations.size());
}

// Changes the RTT of every `stride`-th path by a deterministic factor in
// [0.7, 1.3]: 1% of path costs for stride 100.
void PerturbPaths(AnycastGraph& g, int stride, uint64_t salt) {
  int i = 0;
  for (const graph::Path* path : g.AllPaths()) {
    if (i++ % stride != 0) continue;
    graph::Measurement m = path->measurements.front();
    const double f =
        0.7 +
        0.6 * static_cast<double>((static_cast<uint64_t>(i) * 2654435761u + salt) % 1000) / 1000.0;
    m.rtt_p50_ms *= f;
    m.rtt_p90_ms *= f;
    m.rtt_p99_ms *= f;
    ASSERT_TRUE(g.RecordMeasurement(path->pop, path->region, m).ok());
  }
}

// One cycle: the session's warm result and the stateless one, which must
// be the same.
void SolveWarmAndCold(OptimizerSession& session, const AnycastGraph& g, const OptimizerConfig& cfg,
                      std::optional<OptimizationResult>* warm,
                      std::optional<OptimizationResult>* cold) {
  auto w = session.Optimize(g, g.snapshot_time());
  ASSERT_TRUE(w.ok()) << w.status();
  auto c = Optimize(g, cfg, g.snapshot_time());
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectSameResult(*w, *c);
  *warm = std::move(*w);
  *cold = std::move(*c);
}

struct Case {
  bool current_weights;
  bool n1;
  double max_change;
};

TEST(OptimizerSessionTest, WarmReSolveEqualsColdSolve) {
  for (const Case& c : {Case{false, false, 1.0}, Case{true, false, 1.0}, Case{true, false, 0.25}}) {
    SCOPED_TRACE(::testing::Message() << "current " << c.current_weights << " n1 " << c.n1
                                      << " max_change " << c.max_change);
    AnycastGraph g = GenerateInstance({.regions = 2000,
                                       .pops = 40,
                                       .paths_per_region = 16,
                                       .capacity_factor = 1.6,
                                       .with_current_weights = c.current_weights,
                                       .seed = 11});
    OptimizerConfig cfg;
    cfg.n1_headroom = c.n1;
    cfg.max_weight_change = c.max_change;
    OptimizerSession session(cfg);
    auto first = session.Optimize(g, g.snapshot_time());
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_FALSE(session.last_warm());
    for (uint64_t round = 1; round <= 3; ++round) {
      PerturbPaths(g, 100, round);
      std::optional<OptimizationResult> warm;
      std::optional<OptimizationResult> cold;
      ASSERT_NO_FATAL_FAILURE(SolveWarmAndCold(session, g, cfg, &warm, &cold));
      EXPECT_TRUE(session.last_warm());
      EXPECT_GT(session.last_cost_changes(), 0);
    }
  }
}

TEST(OptimizerSessionTest, StructuralChangeSolvesColdAndStaysEqual) {
  AnycastGraph g = GenerateInstance(
      {.regions = 500, .pops = 20, .paths_per_region = 12, .capacity_factor = 1.5, .seed = 3});
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  OptimizerSession session(cfg);
  ASSERT_TRUE(session.Optimize(g, g.snapshot_time()).ok());
  // Unchanged graph: warm, nothing to change.
  auto same = session.Optimize(g, g.snapshot_time());
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(session.last_warm());
  EXPECT_EQ(session.last_cost_changes(), 0);
  // A demand change is structural.
  ASSERT_TRUE(g.SetRegionDemand(7, g.region(7).demand * 3).ok());
  std::optional<OptimizationResult> changed;
  std::optional<OptimizationResult> cold;
  ASSERT_NO_FATAL_FAILURE(SolveWarmAndCold(session, g, cfg, &changed, &cold));
  EXPECT_FALSE(session.last_warm());
  // A PoP going down too.
  ASSERT_TRUE(g.SetPopHealthy(4, false).ok());
  ASSERT_NO_FATAL_FAILURE(SolveWarmAndCold(session, g, cfg, &changed, &cold));
  EXPECT_FALSE(session.last_warm());
}

// The N-1 per-failure bounds of a session come from a bound network it
// keeps, warm from the last call's (WarmFlowNetwork::SolveFailuresKept):
// every cycle they equal the stateless call's (to rounding), on an instance
// that no weights make N-1-safe, while candidate sets change with the costs.
TEST(OptimizerSessionTest, KeptN1BoundsEqualTheStatelessOnes) {
  AnycastGraph g = GenerateInstance(
      {.regions = 300, .pops = 12, .paths_per_region = 5, .capacity_factor = 1.3, .seed = 5});
  OptimizerConfig cfg;
  cfg.n1_headroom = true;
  cfg.candidates_per_region = 2;  // of 5 paths: sets change as costs move
  OptimizerSession session(cfg);
  int cycles_with_bounds = 0;
  for (uint64_t cycle = 0; cycle < 4; ++cycle) {
    if (cycle > 0) PerturbPaths(g, 20, cycle);
    SCOPED_TRACE(cycle);
    std::optional<OptimizationResult> warm;
    std::optional<OptimizationResult> cold;
    ASSERT_NO_FATAL_FAILURE(SolveWarmAndCold(session, g, cfg, &warm, &cold));
    ASSERT_EQ(warm->n1_failure_bounds.size(), cold->n1_failure_bounds.size());
    for (size_t i = 0; i < warm->n1_failure_bounds.size(); ++i) {
      EXPECT_EQ(warm->n1_failure_bounds[i].failed, cold->n1_failure_bounds[i].failed);
      EXPECT_NEAR(warm->n1_failure_bounds[i].min_excess, cold->n1_failure_bounds[i].min_excess,
                  1e-9 * (1 + cold->n1_failure_bounds[i].min_excess));
    }
    EXPECT_EQ(warm->n1_infeasible, cold->n1_infeasible);
    if (!cold->n1_failure_bounds.empty()) ++cycles_with_bounds;
  }
  EXPECT_EQ(cycles_with_bounds, 4) << "the instance should be N-1-infeasible every cycle";
}

// The control loop's cycle: push the last result as the current weights, let
// 1% of path costs change, re-optimise. Warm (candidates of unchanged regions
// reused, unchanged regions skipped by the network) equals cold every cycle,
// with N-1 off and on.
TEST(OptimizerSessionTest, ClosedLoopCyclesWarmEqualCold) {
  for (const bool n1 : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "n1 " << n1);
    AnycastGraph g = GenerateInstance({.regions = n1 ? 300 : 1500,
                                       .pops = n1 ? 12 : 40,
                                       .paths_per_region = 10,
                                       .capacity_factor = 1.6,
                                       .seed = 21});
    OptimizerConfig cfg;
    cfg.n1_headroom = n1;
    OptimizerSession session(cfg);
    for (uint64_t cycle = 0; cycle < 4; ++cycle) {
      if (cycle > 0) PerturbPaths(g, 100, cycle);
      SCOPED_TRACE(cycle);
      std::optional<OptimizationResult> warm;
      std::optional<OptimizationResult> cold;
      ASSERT_NO_FATAL_FAILURE(SolveWarmAndCold(session, g, cfg, &warm, &cold));
      // Routers now use the result: the next cycle has current weights.
      for (const RegionPlan& plan : warm->regions) {
        std::vector<graph::PopWeight> w;
        for (const WeightShare& s : plan.weights) w.push_back({s.pop, s.weight});
        ASSERT_TRUE(g.SetCurrentWeights(plan.region, w).ok());
      }
    }
  }
}

// One session fed different graphs, a graph copy changed differently, a
// moving `now` and a changed freshness policy: the reused candidates never
// leak between them (every result equals the stateless one).
TEST(OptimizerSessionTest, CandidateReuseNeverCrossesGraphsOrTime) {
  AnycastGraph a = GenerateInstance(
      {.regions = 600, .pops = 20, .paths_per_region = 5, .capacity_factor = 1.3, .seed = 5});
  AnycastGraph b = a;  // same content and revisions
  PerturbPaths(a, 50, 1);
  PerturbPaths(b, 50, 2);  // the same paths, changed differently
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  OptimizerSession session(cfg);
  absl::Time now = a.snapshot_time();
  for (int step = 0; step < 6; ++step) {
    AnycastGraph& g = step % 2 == 0 ? a : b;
    if (step == 4) now += absl::Minutes(3);  // freshness decay changes every cost
    if (step == 5) g.set_freshness({.half_life = absl::Minutes(1), .expiry = absl::Minutes(15)});
    auto warm = session.Optimize(g, now);
    ASSERT_TRUE(warm.ok()) << warm.status();
    auto cold = Optimize(g, cfg, now);
    ASSERT_TRUE(cold.ok()) << cold.status();
    SCOPED_TRACE(step);
    ExpectSameResult(*warm, *cold);
  }
}

// Path-level cost reuse: a region in which one path changed re-prices
// exactly that path (its candidate cost is the cost model's for the new
// measurement) and keeps the others' costs; results equal the stateless ones.
TEST(OptimizerSessionTest, ChangedPathIsRePricedAndOthersKeepTheirCost) {
  AnycastGraph g = GenerateInstance(
      {.regions = 300, .pops = 12, .paths_per_region = 8, .capacity_factor = 1.5, .seed = 11});
  OptimizerConfig cfg;
  cfg.n1_headroom = false;
  cfg.candidates_per_region = 0;  // every measured path is a candidate: all costs visible
  OptimizerSession session(cfg);
  const absl::Time now = g.snapshot_time();
  auto first = session.Optimize(g, now);
  ASSERT_TRUE(first.ok()) << first.status();
  const CostModel model(cfg.cost);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    // Change one path of a few regions: its RTT doubles (then halves back).
    std::vector<std::pair<graph::RegionId, graph::PopId>> touched;
    for (graph::RegionId r = round; r < g.region_count(); r += 37) {
      const graph::Path* path = g.RegionPaths(r)[static_cast<size_t>(round) % 2];
      graph::Measurement m = path->measurements.front();
      const double f = round == 1 ? 0.5 : 2.0;
      m.rtt_p50_ms *= f;
      m.rtt_p90_ms *= f;
      m.rtt_p99_ms *= f;
      ASSERT_TRUE(g.RecordMeasurement(path->pop, r, m).ok());
      touched.emplace_back(r, path->pop);
    }
    auto warm = session.Optimize(g, now);
    ASSERT_TRUE(warm.ok()) << warm.status();
    EXPECT_TRUE(session.last_warm());
    auto cold = Optimize(g, cfg, now);
    ASSERT_TRUE(cold.ok()) << cold.status();
    ExpectSameResult(*warm, *cold);
    for (const auto& [r, pop] : touched) {
      const RegionPlan& plan = warm->regions[static_cast<size_t>(r)];
      bool found = false;
      for (const Candidate& c : plan.candidates) {
        const std::optional<double> want = model.PathCost(g, *g.FindPath(c.pop, r), now);
        ASSERT_TRUE(want.has_value());
        EXPECT_EQ(c.cost_ms, *want) << "region " << r << " pop " << c.pop;
        found = found || c.pop == pop;
      }
      EXPECT_TRUE(found);
      // Every candidate's cost equals the stateless call's, path by path.
      const RegionPlan& ref = cold->regions[static_cast<size_t>(r)];
      ASSERT_EQ(plan.candidates.size(), ref.candidates.size());
      for (size_t k = 0; k < plan.candidates.size(); ++k) {
        EXPECT_EQ(plan.candidates[k].pop, ref.candidates[k].pop);
        EXPECT_EQ(plan.candidates[k].cost_ms, ref.candidates[k].cost_ms);
      }
    }
  }
}

}  // namespace
}  // namespace vantage::optimizer
