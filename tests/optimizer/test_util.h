// Helpers shared by the optimizer tests: independent checks of a result.
#pragma once

#include <vector>

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

}  // namespace vantage::optimizer::testing
