// OptimizerSession: Optimize() for a series of graphs that differ mostly in
// their measurements (the control loop's cycle), keeping the flow network
// and its optimal simplex basis between calls.
//
// Optimize(graph, now) returns exactly what the stateless
// Optimize(graph, config, now) returns (same weights, loads, objective; only
// `pivots` differs). When, since the last call, only path costs changed
// (measurements, `now`, hence also which paths are a region's K best), the
// first LP solve is a warm re-solve from the last optimal basis (and the
// rounding loop's re-solves, which only change usable capacities, are warm
// from the previous solve in every call, sessions or not); any other
// change (PoPs, regions, measured paths, demands, capacities, health,
// current weights, config) rebuilds the network and solves cold — see
// optimizer/warm_flow_network.h. last_warm() says which happened.
// Candidates (path costs, K best) are rebuilt only for regions whose
// AnycastGraph::region_revision() changed, and within those only the paths
// whose AnycastGraph::PathRevisionsOfRegion() stamp changed are re-priced,
// while `now`, the cost settings, the freshness policy and PoP health stay
// the same (optimizer/candidate_cache.h).
//
// Thread model: a single-threaded object (one session per control loop).
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph/anycast_graph.h"
#include "optimizer/candidate_cache.h"
#include "optimizer/warm_flow_network.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer {

class OptimizerSession {
 public:
  explicit OptimizerSession(OptimizerConfig config) : config_(config) {}

  absl::StatusOr<OptimizationResult> Optimize(const graph::AnycastGraph& graph, absl::Time now);

  const OptimizerConfig& config() const { return config_; }
  // Whether the last Optimize() re-solved warm, and how many arc costs it changed.
  bool last_warm() const { return network_.last_warm(); }
  int64_t last_cost_changes() const { return network_.last_cost_changes(); }
  // LP solves in the last Optimize() (the rounding loop may re-solve with a
  // capacity reserve; those re-solves are warm too, and a round whose
  // reserve provably keeps the basis optimal is not re-solved at all) and
  // the usable capacities they changed.
  int last_solves() const { return network_.last_solves(); }
  int64_t last_capacity_changes() const { return network_.last_capacity_changes(); }

 private:
  OptimizerConfig config_;
  WarmFlowNetwork network_;
  CandidateCache cache_;
};

}  // namespace vantage::optimizer
