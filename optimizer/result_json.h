// Machine-readable renderings of optimizer results, used by
// `vantagectl optimize|whatif --json` and the collector's JSON API. Names
// (PoPs, regions) rather than ids; the same fields as the tables.
//
// Thread model: stateless functions.
#pragma once

#include <string>
#include <vector>

#include "graph/anycast_graph.h"
#include "optimizer/weight_optimizer.h"
#include "optimizer/what_if.h"

namespace vantage::optimizer {

// The N-1 outcome in one word:
//   "off"         n1_headroom not requested;
//   "not_checked" requested but not applicable (fewer than two healthy PoPs,
//                 or demand already exceeds capacity);
//   "met"         every single-PoP failure verified by simulation;
//   "infeasible"  not met, and proven impossible over these candidates
//                 (n1_min_excess_bound > 0); the weights are the best found;
//   "best_effort" not met and not proven impossible: the best weights found.
std::string N1Outcome(const OptimizationResult& result);

// n1_violations grouped by failed PoP (worst failure first): per failure,
// the overloaded PoPs (most over first) with load, ceiling and overload.
struct N1FailureImpact {
  graph::PopId failed = 0;
  double excess = 0;  // sum over its overloaded PoPs
  std::vector<N1Violation> overloaded;
};
std::vector<N1FailureImpact> N1ImpactByFailure(const OptimizationResult& result);

std::string OptimizationResultToJson(const graph::AnycastGraph& graph,
                                     const OptimizationResult& result, int indent = 2);
std::string WhatIfResultToJson(const graph::AnycastGraph& graph, const WhatIfResult& result,
                               int indent = 2);

}  // namespace vantage::optimizer
