// Helpers shared by the optimizer tests: independent checks of a result.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "graph/anycast_graph.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer::testing {

// The weight of `pop` in `plan`, 0 if none.
inline double WeightOf(const RegionPlan& plan, graph::PopId pop) {
  for (const WeightShare& s : plan.weights) {
    if (s.pop == pop) return s.weight;
  }
  return 0;
}

// Loads after `failed` goes down, computed here from scratch: a region's
// share on the failed PoP spreads over its other weighted PoPs in
// proportion to their weights, or wholly to its fallback PoP.
inline std::vector<double> IndependentFailureLoads(const OptimizationResult& result,
                                                   graph::PopId failed) {
  std::vector<double> load(result.pops.size(), 0.0);
  for (const RegionPlan& plan : result.regions) {
    const double d = plan.solved_demand;
    const double wf = WeightOf(plan, failed);
    double rest = 0;
    for (const WeightShare& s : plan.weights) {
      if (s.pop != failed) rest += s.weight;
    }
    for (const WeightShare& s : plan.weights) {
      if (s.pop == failed) continue;
      load[static_cast<size_t>(s.pop)] += d * s.weight;
      if (wf > 0 && rest > 0) load[static_cast<size_t>(s.pop)] += d * wf * s.weight / rest;
    }
    if (wf > 0 && rest == 0 && plan.fallback_pop >= 0) {
      load[static_cast<size_t>(plan.fallback_pop)] += d * wf;
    }
  }
  return load;
}

// Solves a CPLEX-format LP with GLPK's glpsol (glpk-utils); returns the
// optimal objective, or NaN if glpsol failed or found no optimum.
inline double SolveWithGlpsol(const std::string& lp, const std::string& tag) {
  const std::string dir = ::testing::TempDir();
  const std::string lp_path = absl::StrFormat("%s/vt-glpk-%d-%s.lp", dir, getpid(), tag);
  const std::string sol_path = lp_path + ".sol";
  std::ofstream(lp_path) << lp;
  const std::string cmd =
      absl::StrFormat("glpsol --lp '%s' -w '%s' > '%s.log' 2>&1", lp_path, sol_path, lp_path);
  const int rc = std::system(cmd.c_str());
  double objective = std::nan("");
  std::ifstream sol(sol_path);
  std::string line;
  while (rc == 0 && std::getline(sol, line)) {
    // "s bas ROWS COLS PRIM DUAL OBJ" with PRIM/DUAL 'f' when feasible.
    if (line.rfind("s bas", 0) == 0) {
      std::istringstream in(line);
      std::string s, bas, prim, dual;
      int rows = 0, cols = 0;
      in >> s >> bas >> rows >> cols >> prim >> dual >> objective;
      if (prim != "f" || dual != "f") objective = std::nan("");
    }
  }
  std::remove(lp_path.c_str());
  std::remove(sol_path.c_str());
  std::remove((lp_path + ".log").c_str());
  return objective;
}

}  // namespace vantage::optimizer::testing
