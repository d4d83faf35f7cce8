// WeightOptimizer: per-region weights over PoPs from an AnycastGraph.
//
// The problem (an LP, solved exactly as a min-cost flow by NetworkSimplex on
// a Boost.Graph flow network regions -> PoPs -> sink):
//
//   minimise   sum_r sum_p d_r * x_rp * c_rp          (demand-weighted cost)
//            - stability_cost_ms * sum_r sum_p d_r * min(x_rp, w_rp)
//            + overload_penalty_ms * sum_p overload_p
//   subject to sum_p x_rp = 1 for every region r, x_rp >= 0,
//              sum_r d_r * x_rp <= E_p + overload_p     (E_p = PopLoad::usable)
//              |x_rp - w_rp| <= max_weight_change        (when < 1)
//
// where c_rp is CostModel's cost, w the region's current weights, and p only
// ranges over the region's candidates: its `candidates_per_region` cheapest
// measured paths to healthy PoPs (0 = all), plus every PoP it currently uses
// that still has a measured path. A region without any measured path to a
// healthy PoP gets every healthy PoP at `unmeasured_path_cost_ms` (and is
// listed in `unmeasured_regions`): missing paths are never free.
//
// Stability: keeping traffic where it is earns stability_cost_ms per unit, so
// moving traffic pays off only when it saves more than that; cost noise
// below stability_cost_ms / 2 per path provably changes nothing (the current
// optimum stays the unique optimum). max_weight_change caps each weight's
// move per cycle; it is relaxed (and noted) when keeping it would overload a
// PoP, or for a region whose current PoPs are no longer candidates.
//
// Hysteresis: a region whose weights would move (1/2 sum |new - current|)
// by less than min_weight_move keeps its current weights when they are on the
// quantum grid, still valid and no PoP goes over its ceiling by keeping them;
// such moves come from rounding slack, not from a real change.
//
// Weights are quantised to multiples of 1 / weight_denominator by largest
// remainder: parts sum exactly to the denominator (with a power-of-two
// denominator the double weights sum exactly to 1.0 too), and a PoP with a
// non-zero LP weight (> 1e-9) always keeps at least one part: no surprise
// withdraw. When the LP stays within one quantum of on-grid current weights,
// those are kept exactly (rounding makes no churn of its own).
//
// E_p starts at ceiling * capacity. If rounding pushes a PoP over its
// ceiling, that overshoot is reserved (E_p reduced) and the LP re-solved, so
// quantised weights respect the ceilings too; PopLoad::usable is the E_p of
// the returned solution (the LP that lp_objective belongs to).
//
// Infeasible demand (total demand > total ceiling capacity), proportional
// shedding policy: every region's demand is scaled by
// demand_scale = total_ceiling / total_demand before solving, so every region
// keeps the same served fraction and every PoP ends at most demand_scale^-1
// times its ceiling: the excess is shed (queued/dropped) proportionally at
// every PoP rather than concentrated on a few. Weights stay valid. If the
// candidate restriction still makes the scaled demand unplaceable, the
// overload_penalty picks the least-cost overload and reports it.
//
// N-1 headroom: with n1_headroom, after solving, every single-PoP failure is
// simulated (a failed PoP's share of a region spreads over the region's
// other PoPs in proportion to their weights; a region left with no weighted
// PoP falls back entirely to its cheapest remaining candidate, as BGP would
// pick the nearest remaining announcement). PoPs that would exceed their
// ceiling get their usable capacity E_p reduced by the excess and the LP is
// re-solved, up to n1_max_iterations; the best solution (least total
// post-failure overload, then least cost) is kept. If failures still
// overload PoPs, an N-1 repair (a deterministic local search on the
// quantised parts) follows: with E[f][p] the load p receives when f fails,
// it lowers excess = sum_p max(0, load_p + max_f E[f][p] - ceiling_p) by
// moving parts within one region (from any of its PoPs to another
// candidate), only making strictly improving moves, never pushing a PoP
// over its ceiling in normal operation and never withdrawing a PoP the LP
// uses; at most n1_repair_max_moves moves and n1_repair_max_evaluations
// evaluated moves (deterministic budget), and only with <= 2048 PoPs (it
// keeps a pops x pops matrix). Note: it minimises excess, so the number of
// violating (failed, overloaded) pairs may rise while the overload falls.
// The result reports the failures that still overload which PoPs; the
// check is exact, but an N-1 solution may exist where none is found (the
// exact problem, sum_r D_r w_rp / (1 - w_rf) <= ceiling_p for all f, p, is
// not convex). Repair moves ignore max_weight_change (the region is marked
// change_limit_relaxed when that limit is < 1). The glpsol comparison
// tests run with n1_headroom off: the LP itself is unchanged.
//
// Deterministic: same graph, config and `now` give the same result.
// Thread model: stateless; Optimize() may run concurrently on distinct inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "graph/anycast_graph.h"
#include "optimizer/cost_model.h"

namespace vantage::optimizer {

struct OptimizerConfig {
  CostModelConfig cost;
  int candidates_per_region = 8;      // K; 0 = every measured PoP
  double utilisation_ceiling = 0.8;   // of capacity
  double stability_cost_ms = 2.0;     // per unit of traffic moved
  double max_weight_change = 1.0;     // per PoP per cycle; 1 = unlimited
  double min_weight_move = 0.01;      // smaller region moves are not made
  int64_t weight_denominator = 1024;  // weight quantum = 1 / denominator
  bool n1_headroom = true;
  int n1_max_iterations = 30;
  int n1_repair_max_moves = 5000;              // N-1 local-search moves; 0 = no repair
  int64_t n1_repair_max_evaluations = 200000;  // candidate moves evaluated, at most
  double overload_penalty_ms = 1e5;            // must exceed any cost difference
  double unmeasured_path_cost_ms = 1000;       // cost of a never-measured path
};

absl::Status ValidateOptimizerConfig(const OptimizerConfig& config);

struct Candidate {
  graph::PopId pop = 0;
  double cost_ms = 0;         // CostModel cost, or unmeasured_path_cost_ms
  double current_weight = 0;  // from the graph's current weights
  double lp_weight = 0;       // exact LP solution before quantisation
};

struct WeightShare {
  graph::PopId pop = 0;
  int64_t parts = 0;  // out of OptimizerConfig::weight_denominator
  double weight = 0;  // parts / denominator
};

struct RegionPlan {
  graph::RegionId region = 0;
  double demand = 0;                  // as in the graph
  double solved_demand = 0;           // demand * demand_scale: what the LP placed
  std::vector<Candidate> candidates;  // sorted by (cost, pop)
  std::vector<WeightShare> weights;   // sorted by pop, parts > 0
  double cost_ms = 0;                 // sum_p weight * cost: mean cost of a unit
  double current_cost_ms = 0;         // the same with current weights (0 if none)
  double moved = 0;                   // 1/2 sum |weight - current|
  bool unmeasured = false;
  bool change_limit_relaxed = false;
  // N-1: where the traffic goes if its only weighted PoP fails (-1 if the
  // region is spread over several PoPs or has no other candidate).
  graph::PopId fallback_pop = -1;
};

struct PopLoad {
  graph::PopId pop = 0;
  double capacity = 0;
  double ceiling = 0;  // utilisation_ceiling * capacity (0 if unhealthy)
  // The LP's capacity for this PoP: the ceiling minus what was reserved so
  // that quantisation and (with N-1) single failures stay within it.
  double usable = 0;
  double load = 0;          // predicted: sum_r demand_r * weight_rp
  double current_load = 0;  // with the current weights
  bool healthy = true;
};

struct N1Violation {
  graph::PopId failed = 0;
  graph::PopId overloaded = 0;
  double load = 0;  // after the failure
  double ceiling = 0;
};

struct OptimizationResult {
  std::vector<RegionPlan> regions;  // by region id
  std::vector<PopLoad> pops;        // by pop id
  double objective = 0;             // sum_r demand_r * cost_ms (quantised weights)
  double lp_objective = 0;          // the exact LP optimum as stated above (solved demands)
  double total_demand = 0;
  double total_ceiling = 0;
  bool demand_exceeds_capacity = false;
  double demand_scale = 1.0;
  double overload = 0;  // sum_p max(0, load - ceiling), predicted
  bool n1_checked = false;
  bool n1_satisfied = false;
  int n1_iterations = 0;    // re-solves with reserved capacity
  int n1_repair_moves = 0;  // weight moves made by the N-1 repair
  std::vector<N1Violation> n1_violations;
  std::vector<graph::RegionId> unmeasured_regions;
  int64_t pivots = 0;
  std::vector<std::string> notes;  // human-readable explanations
};

absl::StatusOr<OptimizationResult> Optimize(const graph::AnycastGraph& graph,
                                            const OptimizerConfig& config, absl::Time now);

// Post-failure loads if `failed` goes down, under the N-1 spreading rule
// above, for the weights in `result`; indexed by pop id (failed pop -> 0).
std::vector<double> SimulateFailure(const OptimizationResult& result, graph::PopId failed);

}  // namespace vantage::optimizer
