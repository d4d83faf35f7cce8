// What-if analysis: apply hypothetical changes (PoP failures, capacity
// changes, path degradation, demand changes) to a graph and predict their
// effect on per-PoP load and per-region cost, both
//   - immediately: today's optimised weights in the changed world (a failed
//     PoP's share spreads over each region's other weighted PoPs in
//     proportion to their weights, or falls back to the region's cheapest
//     remaining PoP, as in N-1), and
//   - after re-optimising: the next cycle's weights, with today's optimised
//     weights as the current ones (so stability rules apply as in production).
//
// Thread model: stateless functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph/anycast_graph.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer {

struct Scenario {
  std::vector<std::string> failed_pops;
  struct CapacityChange {
    std::string pop;
    double capacity = 0;
  };
  std::vector<CapacityChange> capacities;
  struct Degradation {
    std::string pop;
    std::string region;
    double add_ms = 0;    // added to every RTT quantile (and DNS time)
    double add_loss = 0;  // added to the loss fraction, capped at 1
  };
  std::vector<Degradation> degradations;
  struct DemandChange {
    std::string region;
    double demand = 0;
  };
  std::vector<DemandChange> demands;
};

// The changed graph. Errors name unknown PoPs/regions, missing paths and
// invalid values.
absl::StatusOr<graph::AnycastGraph> ApplyScenario(const graph::AnycastGraph& graph,
                                                  const Scenario& scenario);

struct PopImpact {
  graph::PopId pop = 0;
  double ceiling_before = 0;
  double ceiling_after = 0;
  double load_before = 0;     // optimised weights, unchanged world
  double load_immediate = 0;  // same weights, changed world
  double load_after = 0;      // re-optimised
};

struct RegionImpact {
  graph::RegionId region = 0;
  double cost_before = 0;     // ms per unit of traffic
  double cost_immediate = 0;  // -1 if the region lost every PoP
  double cost_after = 0;
};

struct WhatIfResult {
  OptimizationResult before;
  OptimizationResult after;
  std::vector<PopImpact> pops;
  std::vector<RegionImpact> regions;
  double objective_before = 0;
  double objective_immediate = 0;
  double objective_after = 0;
};

absl::StatusOr<WhatIfResult> WhatIf(const graph::AnycastGraph& graph, const Scenario& scenario,
                                    const OptimizerConfig& config, absl::Time now);

}  // namespace vantage::optimizer
