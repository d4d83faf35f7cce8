// N-1 headroom: met exactly where the instance admits it (verified by
// simulating every single-PoP failure independently), and otherwise proven
// infeasible with a minimum excess that glpsol confirms.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "graph/instance_generator.h"
#include "optimizer/weight_optimizer.h"
#include "tests/optimizer/test_util.h"

namespace vantage::optimizer {
namespace {

using graph::AnycastGraph;
using graph::GenerateInstance;
using testing::IndependentFailureLoads;
using testing::SolveWithGlpsol;

struct Simulated {
  int violations = 0;
  double excess = 0;  // sum over (failed, overloaded) pairs
};

Simulated Simulate(const OptimizationResult& r) {
  Simulated s;
  for (graph::PopId f = 0; f < static_cast<graph::PopId>(r.pops.size()); ++f) {
    const std::vector<double> load = IndependentFailureLoads(r, f);
    for (size_t p = 0; p < load.size(); ++p) {
      if (static_cast<graph::PopId>(p) == f) continue;
      if (load[p] > r.pops[p].ceiling * (1 + 1e-9) + 1e-9) {
        ++s.violations;
        s.excess += load[p] - r.pops[p].ceiling;
      }
    }
  }
  return s;
}

// The bound's LP: with `failed` down, route every region's demand over its
// other candidates (freely), minimising the total overload above ceilings.
std::string WriteFailureLp(const OptimizationResult& r, graph::PopId failed) {
  std::ostringstream obj, rows;
  std::vector<std::vector<std::string>> pop_terms(r.pops.size());
  for (const RegionPlan& plan : r.regions) {
    std::ostringstream row;
    int n = 0;
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      if (plan.candidates[k].pop == failed) continue;
      const std::string y = absl::StrFormat("y%d_%d", plan.region, k);
      row << " + " << y;
      pop_terms[static_cast<size_t>(plan.candidates[k].pop)].push_back(y);
      ++n;
    }
    if (n > 0 && plan.solved_demand > 0) {
      rows << " d" << plan.region << ":" << row.str()
           << absl::StrFormat(" = %.17g\n", plan.solved_demand);
    }
  }
  obj << " 0 dummy";
  for (size_t p = 0; p < r.pops.size(); ++p) {
    if (static_cast<graph::PopId>(p) == failed || pop_terms[p].empty()) continue;
    const std::string o = absl::StrFormat("o%d", p);
    obj << " + " << o << "\n";
    rows << " p" << p << ":";
    for (const std::string& v : pop_terms[p]) rows << " + " << v;
    rows << " - " << o << absl::StrFormat(" <= %.17g\n", r.pops[p].ceiling);
  }
  return "Minimize\n obj:" + obj.str() + "\nSubject To\n" + rows.str() +
         "Bounds\n dummy = 0\nEnd\n";
}

// Every per-failure bound equals glpsol's optimum of that failure's LP, the
// total is their sum, and the simulated excess is at least the total.
void ExpectBoundsMatchGlpsol(const OptimizationResult& r, const Simulated& sim,
                             const std::string& tag) {
  double sum = 0;
  for (const auto& b : r.n1_failure_bounds) sum += b.min_excess;
  EXPECT_NEAR(sum, r.n1_min_excess_bound, 1e-9 * (1 + sum)) << tag;
  EXPECT_GE(sim.excess, r.n1_min_excess_bound * (1 - 1e-9)) << tag;
  if (r.n1_infeasible) {
    ASSERT_GE(r.n1_infeasible_failure, 0);
    bool listed = false;
    for (const auto& b : r.n1_failure_bounds)
      listed = listed || b.failed == r.n1_infeasible_failure;
    EXPECT_TRUE(listed) << tag;
  }
  if (std::system("glpsol --version > /dev/null 2>&1") != 0) return;
  for (const auto& b : r.n1_failure_bounds) {
    const std::string t = absl::StrFormat("%s-f%d", tag, b.failed);
    const double glpk = SolveWithGlpsol(WriteFailureLp(r, b.failed), t);
    ASSERT_FALSE(std::isnan(glpk)) << t;
    EXPECT_NEAR(b.min_excess, glpk, 1e-6 * std::max(1.0, glpk)) << t;
  }
}

void ExpectExactOrProvenInfeasible(const AnycastGraph& g, const OptimizationResult& r,
                                   const std::string& tag) {
  ASSERT_TRUE(r.n1_checked);
  const Simulated sim = Simulate(r);
  EXPECT_EQ(sim.violations, static_cast<int>(r.n1_violations.size()));
  EXPECT_NEAR(sim.excess, r.n1_excess, 1e-9 * (1 + sim.excess));
  for (const PopLoad& p : r.pops) EXPECT_LE(p.load, p.ceiling * (1 + 1e-9) + 1e-9);
  std::cerr << tag << ": N-1 violations " << sim.violations << ", excess " << sim.excess
            << ", LP iterations " << r.n1_iterations << ", scenario rows " << r.n1_scenarios
            << ", bound " << r.n1_min_excess_bound << (r.n1_infeasible ? " (infeasible)" : "")
            << "\n";
  if (r.n1_satisfied) {
    EXPECT_EQ(sim.violations, 0);
    return;
  }
  // Not met: it must be proven unavoidable, and the proof checks out in glpsol.
  EXPECT_TRUE(r.n1_infeasible) << tag << ": N-1 not met (excess " << sim.excess
                               << ") without a proof that it is impossible";
  if (!r.n1_infeasible) return;
  ExpectBoundsMatchGlpsol(r, sim, tag);
  (void)g;
}

struct Instance {
  int regions, pops, paths;
  double capacity;
  uint64_t seed;
};

OptimizationResult Solve(const AnycastGraph& g) {
  auto r = Optimize(g, OptimizerConfig{}, g.snapshot_time());  // N-1 on by default
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : OptimizationResult{};
}

AnycastGraph Generate(const Instance& in) {
  return GenerateInstance({.regions = in.regions,
                           .pops = in.pops,
                           .paths_per_region = in.paths,
                           .capacity_factor = in.capacity,
                           .seed = in.seed});
}

std::string Tag(const Instance& in) {
  return absl::StrFormat("%dx%d-c%.1f-s%d", in.regions, in.pops, in.capacity, in.seed);
}

TEST(N1ExactTest, GeneratedInstancesMeetN1OrProveItImpossible) {
  for (const Instance& in : {Instance{300, 12, 8, 2.2, 2}, Instance{300, 12, 8, 2.2, 3},
                             Instance{400, 16, 8, 1.5, 6}, Instance{400, 16, 8, 1.5, 7}}) {
    const AnycastGraph g = Generate(in);
    const OptimizationResult r = Solve(g);
    ExpectExactOrProvenInfeasible(g, r, Tag(in));
  }
}

// Outcome per seed at 400 x 16 (total ceiling 1.2x demand, 8 measured PoPs
// per region), each verified by simulating every single-PoP failure.
TEST(N1ExactTest, Seed6IsMet) {
  const OptimizationResult r = Solve(Generate({400, 16, 8, 1.5, 6}));
  EXPECT_TRUE(r.n1_satisfied);
  EXPECT_EQ(Simulate(r).violations, 0);
  EXPECT_EQ(r.n1_excess, 0);
}

TEST(N1ExactTest, Seed7IsProvenInfeasible) {
  const Instance in{400, 16, 8, 1.5, 7};
  const OptimizationResult r = Solve(Generate(in));
  const Simulated sim = Simulate(r);
  EXPECT_FALSE(r.n1_satisfied);
  EXPECT_TRUE(r.n1_infeasible);
  EXPECT_GT(r.n1_min_excess_bound, 55);  // PoP failures that no weights can absorb
  EXPECT_EQ(sim.violations, static_cast<int>(r.n1_violations.size()));
  EXPECT_NEAR(sim.excess, r.n1_excess, 1e-9 * (1 + sim.excess));
  ExpectBoundsMatchGlpsol(r, sim, Tag(in));
}

TEST(N1ExactTest, Seed5IsBestEffortReportedExactly) {
  // KNOWN GAP (issue #8): every single failure can be absorbed on its own
  // (lower bound 0), but the search finds no weights absorbing all of them:
  // the result says so ("best effort"), with the exact remaining excess and
  // which failures overload which PoPs.
  const Instance in{400, 16, 8, 1.5, 5};
  const OptimizationResult r = Solve(Generate(in));
  const Simulated sim = Simulate(r);
  std::cerr << Tag(in) << ": N-1 violations " << sim.violations << ", excess " << sim.excess
            << " (total ceiling " << r.total_ceiling << "), LP iterations " << r.n1_iterations
            << ", repair moves " << r.n1_repair_moves << ", bound " << r.n1_min_excess_bound
            << "\n";
  EXPECT_EQ(sim.violations, static_cast<int>(r.n1_violations.size()));
  EXPECT_NEAR(sim.excess, r.n1_excess, 1e-9 * (1 + sim.excess));
  for (const PopLoad& p : r.pops) EXPECT_LE(p.load, p.ceiling * (1 + 1e-9) + 1e-9);
  if (r.n1_satisfied) return;  // better than at commit time
  ExpectBoundsMatchGlpsol(r, sim, Tag(in));
  if (!r.n1_infeasible) {
    bool noted = false;
    for (const std::string& n : r.notes)
      noted = noted || n.rfind("N-1 not met (best effort)", 0) == 0;
    EXPECT_TRUE(noted);
  }
  // Measured at commit time: 28.5 left (1.6 % of the total ceiling).
  EXPECT_LT(sim.excess, 0.02 * r.total_ceiling) << Tag(in);
}

TEST(N1ExactTest, Deterministic) {
  const AnycastGraph g = Generate({400, 16, 8, 1.5, 6});
  const OptimizationResult a = Solve(g);
  const OptimizationResult b = Solve(g);
  ASSERT_EQ(a.regions.size(), b.regions.size());
  for (size_t i = 0; i < a.regions.size(); ++i) {
    ASSERT_EQ(a.regions[i].weights.size(), b.regions[i].weights.size());
    for (size_t k = 0; k < a.regions[i].weights.size(); ++k) {
      EXPECT_EQ(a.regions[i].weights[k].parts, b.regions[i].weights[k].parts);
    }
  }
  EXPECT_EQ(a.n1_excess, b.n1_excess);
}

TEST(N1ExactTest, TwoPopsTooSmallIsProvenInfeasibleWithTheMinimumExcess) {
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
  auto res = Optimize(g, OptimizerConfig{}, g.snapshot_time());
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_FALSE(res->n1_satisfied);
  EXPECT_TRUE(res->n1_infeasible);
  // Either PoP alone must carry 120 against a ceiling of 80: 40 per
  // failure, and the weights found reach that bound.
  ASSERT_EQ(res->n1_failure_bounds.size(), 2u);
  EXPECT_NEAR(res->n1_failure_bounds[0].min_excess, 40, 1e-9);
  EXPECT_NEAR(res->n1_failure_bounds[1].min_excess, 40, 1e-9);
  EXPECT_NEAR(res->n1_min_excess_bound, 80, 1e-9);
  EXPECT_NEAR(res->n1_excess, 80, 1e-9);
  ExpectExactOrProvenInfeasible(g, *res, "two-pops");
}

TEST(N1ExactTest, SatisfiableTightCaseIsMet) {
  // Three PoPs of 100 (ceiling 80), one region of 150 on all three: equal
  // thirds give 75 after any failure; the plain optimum (cheapest PoP first)
  // does not.
  AnycastGraph g;
  std::vector<graph::PopId> pops;
  for (const char* name : {"a", "b", "c"})
    pops.push_back(*g.AddPop({.name = name, .capacity = 100}));
  const auto r = *g.AddRegion({.name = "r", .demand = 150});
  for (size_t i = 0; i < pops.size(); ++i) {
    graph::Measurement m;
    m.samples = 1000;
    m.updated = g.snapshot_time();
    m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 10 + 5 * static_cast<double>(i);
    ASSERT_TRUE(g.RecordMeasurement(pops[i], r, m).ok());
  }
  auto res = Optimize(g, OptimizerConfig{}, g.snapshot_time());
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_TRUE(res->n1_satisfied);
  EXPECT_FALSE(res->n1_infeasible);
  ExpectExactOrProvenInfeasible(g, *res, "three-pops");
}

}  // namespace
}  // namespace vantage::optimizer
