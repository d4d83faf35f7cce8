// WarmFlowNetwork: the optimizer's min-cost-flow network kept between
// solves, so that a re-solve after path costs change starts from the last
// optimal basis (NetworkSimplex::SetCost + Resolve) instead of from scratch.
// Every Optimize() solves through one: OptimizerSession's (kept between
// calls), or a call-local one over the candidates alone (stateless
// Optimize()); within a call, re-solves after usable capacities change use
// ResolveCapacities().
//
// The network is the LP of weight_optimizer.h with the change limit applied
// (regions -> PoPs -> sink, keep/extra arcs, capacity and overload arcs), but
// with an arc for EVERY measured path of a region, not only its candidates:
// a path outside the candidate set costs kDisabledFactor x
// overload_penalty_ms, more than routing the unit over any candidate and
// overloading its PoP, so no optimum uses it and the LP equals the
// candidate-only LP. Candidate sets that change with the costs (a path
// entering or leaving a region's K best) are then just cost changes.
//
// Usable capacities (E_p) may change too: SetCapacity moves flow above a
// lowered capacity onto the PoP's overload arc, and Resolve() re-optimises,
// so the rounding loop's re-solves with a reserve are warm as well.
//
// Anything else that changes the network (regions, PoPs, measured paths,
// demands, current weights, stability / change-limit / penalty settings)
// rebuilds it and solves cold; Solve() reports which.
//
// Thread model: a single-threaded object.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph/anycast_graph.h"
#include "optimizer/network_simplex.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer {

class WarmFlowNetwork {
 public:
  static constexpr double kDisabledFactor = 4.0;

  struct Solution {
    std::vector<std::vector<double>> x{};  // per region, per plan candidate: weight
    std::vector<double> overflow{};        // per pop
    double total_overflow = 0;
    double lp_objective = 0;
    int64_t pivots = 0;
    std::vector<bool> relaxed{};  // per region: change limit not applied
  };

  // `paths[r]`: every measured path of region r (pop, cost, current weight);
  // plans[r].candidates must be a subset of it (by pop).
  absl::StatusOr<Solution> Solve(const std::vector<RegionPlan>& plans,
                                 const std::vector<std::vector<Candidate>>& paths,
                                 const std::vector<double>& usable, const OptimizerConfig& cfg);

  // One Optimize() call may solve several times (the rounding loop). After
  // BeginCall(): whether its first Solve() was warm, how many arc costs
  // that one changed, and over all its solves, how many usable capacities
  // changed (warm) and how many solves there were.
  void BeginCall() { call_start_ = true; }
  // Re-solve after only usable capacities changed, for the same `plans`
  // (candidates, costs, demands) as the last Solve(): warm, no checks of
  // anything else. The rounding loop's re-solves within one call.
  absl::StatusOr<Solution> ResolveCapacities(const std::vector<RegionPlan>& plans,
                                             const std::vector<double>& usable,
                                             const OptimizerConfig& cfg);

  bool last_warm() const { return last_warm_; }
  int64_t last_cost_changes() const { return last_cost_changes_; }
  int64_t last_capacity_changes() const { return last_capacity_changes_; }
  int last_solves() const { return last_solves_; }

 private:
  struct Slot {
    int32_t pop = 0;
    double current_weight = 0;
    int keep = -1;  // arc index or -1
    int extra = 0;
  };

  absl::StatusOr<int64_t> ApplyCapacities(const std::vector<double>& usable);
  // Slot of every plan candidate (cand_slot_, by cand_begin_).
  void CandidateSlots(const std::vector<RegionPlan>& plans);
  Solution ReadBack(const std::vector<RegionPlan>& plans, size_t pops, const OptimizerConfig& cfg,
                    int64_t pivots) const;
  void Build(const std::vector<RegionPlan>& plans, const std::vector<std::vector<Candidate>>& paths,
             const std::vector<double>& usable, const OptimizerConfig& cfg);
  bool SameStructure(const std::vector<RegionPlan>& plans,
                     const std::vector<std::vector<Candidate>>& paths,
                     const std::vector<double>& usable, const OptimizerConfig& cfg) const;
  // Wanted cost of every arc for these plans' candidate sets and costs.
  void WantedCosts(const std::vector<RegionPlan>& plans,
                   const std::vector<std::vector<Candidate>>& paths, const OptimizerConfig& cfg,
                   std::vector<double>* cost) const;

  std::unique_ptr<NetworkSimplex> simplex_;
  std::vector<size_t> region_begin_;  // slots of region r: [begin[r], begin[r + 1])
  std::vector<Slot> slots_;           // sorted by pop within a region
  std::vector<double> demand_;
  std::vector<bool> constrained_;
  std::vector<double> usable_;
  std::vector<double> lower_;  // per arc: lower bound shifted into supplies
  std::vector<int> cap_arc_, over_arc_;
  std::vector<int> tree_arc_, upper_arcs_;  // the initial basis of a cold solve
  double stability_ = 0, max_change_ = 0, penalty_ = 0;
  std::vector<double> wanted_;  // scratch
  std::vector<size_t> cand_begin_, cand_slot_;
  bool last_warm_ = false;
  int64_t last_cost_changes_ = 0;
  int64_t last_capacity_changes_ = 0;
  int last_solves_ = 0;
  bool call_start_ = true;
};

// Optimize() with its first solve through `network` (see above); the result
// equals Optimize(graph, cfg, now)'s.
absl::StatusOr<OptimizationResult> OptimizeWithNetwork(const graph::AnycastGraph& graph,
                                                       const OptimizerConfig& cfg, absl::Time now,
                                                       WarmFlowNetwork& network);

}  // namespace vantage::optimizer
