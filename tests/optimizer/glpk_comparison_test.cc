// Optimality against an independent solver: the test writes the optimizer's
// LP (as documented in weight_optimizer.h) in CPLEX LP format from the
// result's candidates, solves it with GLPK's glpsol, and compares objectives.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_format.h"
#include "graph/instance_generator.h"
#include "optimizer/weight_optimizer.h"
#include "tests/optimizer/test_util.h"

namespace vantage::optimizer {
namespace {

std::string Term(double coef, const std::string& var) {
  return coef >= 0 ? absl::StrFormat(" + %.17g %s", coef, var)
                   : absl::StrFormat(" - %.17g %s", -coef, var);
}

// The LP of weight_optimizer.h in flow variables (demand units):
// z = traffic beyond the kept share, y = kept share (earns stability), o = overload.
std::string WriteLp(const OptimizationResult& r, const OptimizerConfig& cfg) {
  std::ostringstream obj, rows, bounds;
  std::vector<std::vector<std::string>> pop_terms(r.pops.size());
  const double delta = cfg.max_weight_change;
  const double s = cfg.stability_cost_ms;
  int terms = 0;
  for (const RegionPlan& plan : r.regions) {
    const double d = plan.solved_demand;
    const bool constrained = delta < 1.0 && !plan.change_limit_relaxed && d > 0;
    std::ostringstream row;
    row << " d" << plan.region << ":";
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      const Candidate& c = plan.candidates[k];
      const std::string z = absl::StrFormat("z%d_%d", plan.region, k);
      const double keep_cap = d * c.current_weight;
      const bool keep = c.current_weight > 0 && (s > 0 || constrained);
      obj << Term(c.cost_ms, z);
      row << " + " << z;
      pop_terms[static_cast<size_t>(c.pop)].push_back(z);
      if (constrained) {
        const double upper = d * std::min(1.0, c.current_weight + delta);
        bounds << absl::StrFormat(" 0 <= %s <= %.17g\n", z,
                                  std::max(0.0, upper - (keep ? keep_cap : 0.0)));
      }
      if (keep) {
        const std::string y = absl::StrFormat("y%d_%d", plan.region, k);
        obj << Term(c.cost_ms - s, y);
        row << " + " << y;
        pop_terms[static_cast<size_t>(c.pop)].push_back(y);
        const double lo = constrained ? d * std::max(0.0, c.current_weight - delta) : 0.0;
        bounds << absl::StrFormat(" %.17g <= %s <= %.17g\n", lo, y, keep_cap);
      }
      if (++terms % 4 == 0) obj << "\n";
    }
    rows << row.str() << absl::StrFormat(" = %.17g\n", d);
  }
  for (size_t p = 0; p < r.pops.size(); ++p) {
    const std::string o = absl::StrFormat("o%d", p);
    obj << Term(cfg.overload_penalty_ms, o) << "\n";
    rows << " p" << p << ":";
    for (const std::string& v : pop_terms[p]) rows << " + " << v;
    rows << " - " << o << absl::StrFormat(" <= %.17g\n", r.pops[p].usable);
  }
  return "Minimize\n obj:" + obj.str() + "\nSubject To\n" + rows.str() + "Bounds\n" + bounds.str() +
         "End\n";
}

double SolveWithGlpk(const std::string& lp, const std::string& tag) {
  return testing::SolveWithGlpsol(lp, tag);
}

struct Case {
  const char* name;
  double capacity_factor;
  int k;
  bool current;
  double stability;
  double max_change;
};

class GlpkComparisonTest : public ::testing::TestWithParam<Case> {};

TEST_P(GlpkComparisonTest, ObjectiveEqualsGlpk) {
  if (std::system("glpsol --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "glpsol (glpk-utils) not installed";
  }
  const Case& c = GetParam();
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    graph::AnycastGraph g = graph::GenerateInstance({.regions = 150,
                                                     .pops = 12,
                                                     .paths_per_region = 10,
                                                     .capacity_factor = c.capacity_factor,
                                                     .with_current_weights = c.current,
                                                     .seed = seed * 101});
    OptimizerConfig cfg;
    cfg.n1_headroom = false;
    cfg.candidates_per_region = c.k;
    cfg.stability_cost_ms = c.stability;
    cfg.max_weight_change = c.max_change;
    auto r = Optimize(g, cfg, g.snapshot_time());
    ASSERT_TRUE(r.ok()) << r.status();
    const double glpk = SolveWithGlpk(WriteLp(*r, cfg), absl::StrFormat("%s-%d", c.name, seed));
    ASSERT_FALSE(std::isnan(glpk)) << "glpsol failed";
    EXPECT_NEAR(r->lp_objective, glpk, 1e-6 * std::max(1.0, std::fabs(glpk)))
        << c.name << " seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Instances, GlpkComparisonTest,
                         ::testing::Values(Case{"roomy", 3.0, 8, false, 0, 1},
                                           Case{"tight", 1.3, 8, false, 0, 1},
                                           Case{"very_tight_k3", 1.26, 3, false, 0, 1},
                                           Case{"infeasible", 0.7, 8, false, 0, 1},
                                           Case{"stability", 1.3, 8, true, 3.0, 1},
                                           Case{"max_change", 1.3, 8, true, 1.0, 0.2},
                                           Case{"all_candidates", 1.1, 0, false, 0, 1}),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           return std::string(param.param.name);
                         });

}  // namespace
}  // namespace vantage::optimizer
