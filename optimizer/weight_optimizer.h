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
// Weights are quantised to multiples of 1 / weight_denominator by a
// capacity-aware largest remainder: every weight is rounded down (a non-zero
// LP weight (> 1e-9) keeps at least one part: no surprise withdraw), then the
// missing parts go, over all regions in order of largest remainder, to PoPs
// that stay within max(ceiling, LP load); a part that fits nowhere goes
// where there is most room. Parts sum exactly to the denominator (with a
// power-of-two denominator the double weights sum exactly to 1.0 too). When
// the LP stays within one quantum of on-grid current weights, those are kept
// exactly (rounding makes no churn of its own).
//
// E_p starts at ceiling * capacity. If rounding still pushes a PoP over its
// ceiling, that overshoot is reserved (E_p reduced) and the LP re-solved, so
// quantised weights respect the ceilings too; PopLoad::usable is the E_p of
// the returned solution (the LP that lp_objective belongs to; with N-1 rows
// added, lp_objective is that LP's objective at the returned LP weights).
// These re-solves are warm: only E_p changed, so the network simplex keeps
// its basis (NetworkSimplex::SetCapacity) and re-optimises from there; a
// round whose reserve only lowers E_p where the LP already overloads (or
// leaves room) keeps the basis optimal, so its LP weights are known without
// a re-solve (WarmFlowNetwork::LowerCapacitiesKeepingBasis).
// Overshoot left after that (and after the capacity-aware rounding) goes to
// a rounding repair: single parts, then chains of two parts (region A moves
// a part from the overloaded PoP to q, region B one from q on to a PoP with
// room), each strictly lowering the total overshoot, never withdrawing a PoP
// the LP uses. If the repair (bounded: 1M candidate moves) still leaves a PoP
// over its ceiling, a note names the PoPs and the overshoot: no quantised
// weights within the ceilings were found at this quantum (the repair is a
// local search; it is not a proof that none exist).
//
// OptimizerSession (optimizer/optimizer_session.h) gives the same results
// with a warm start when only path costs change between calls, and reuses
// the candidates of regions whose inputs did not change.
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
// N-1 headroom (n1_headroom): when f fails, region r's share on f spreads
// over r's other weighted PoPs in proportion to their weights (weighted
// ECMP); a region left with no weighted PoP falls back entirely to its
// cheapest remaining candidate (BGP picks the nearest remaining
// announcement). The requirement, for every failed f and every other p,
//   post_f(p) = sum_r D_r w_rp / (1 - w_rf)  (+ fallbacks)  <= ceiling_p,
// is not convex. It is met by sequential linear programming with cut
// generation, verified by simulation: every (f, p) pair that the exact
// simulation of the quantised weights finds violated gets a row, the
// requirement linearised at the current point with an elastic excess column;
// all rows are re-linearised and the LP (same objective and constraints as
// above, solved by GLPK with a warm-started dual simplex) re-solved; a step
// is accepted when the simulated merit (normal overload first, then N-1
// excess) falls, else halved; it ends when the simulation finds no
// violation, after n1_max_iterations, or when no step improves (instances
// with more than n1_lp_max_columns LP columns skip it). From its best point
// a second stage, N1Search (optimizer/n1_headroom.h), takes conservative
// steps: trust-region LPs whose every solution is truly N-1-safe up to
// their elastic excess. A deterministic local
// search on the quantised parts (N1Repair: moves within a region that
// strictly lower the excess, never overload a PoP in normal operation, never
// withdraw a PoP the LP uses; n1_repair_max_moves / _evaluations budget,
// <= 2048 PoPs) then polishes what is left.
// When violations remain, the result says whether N-1 is impossible: with f
// down, post-failure loads are one routing of every region's demand over its
// other candidates, so the least total overload of any such routing (a
// min-cost flow with zero path costs, ceilings as capacities) bounds that
// failure's excess of ANY weights from below, and the sum over failures
// bounds the total. A positive bound sets n1_infeasible
// (n1_min_excess_bound = the sum, n1_failure_bounds per failure,
// n1_infeasible_failure the largest; up to n1_bound_max_failures failures
// are tried, worst first); otherwise the note says "best effort": no
// N-1-safe weights were found although none is proven impossible. n1_violations
// lists which failures still overload which PoPs, exactly. The SLP and the
// repair ignore nothing of the normal constraints except that the repair may
// exceed max_weight_change (the region is then marked change_limit_relaxed).
// The glpsol comparison tests run with n1_headroom off: the LP itself is
// unchanged.
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
  int n1_lp_max_columns = 400000;              // larger instances skip the N-1 linear program
  int n1_lp_time_limit_ms = 20000;             // per GLPK solve
  int n1_bound_max_failures = 16;              // failures given an infeasibility bound, worst first
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
  double overload = 0;        // sum_p max(0, load - ceiling), predicted
  bool n1_requested = false;  // OptimizerConfig::n1_headroom
  bool n1_checked = false;    // requested and applicable (>= 2 healthy PoPs, demand fits)
  bool n1_satisfied = false;
  int n1_iterations = 0;  // N-1 linear program iterations
  int n1_scenarios = 0;   // (failed, overloaded) pairs given a constraint row
  double n1_excess = 0;   // sum over n1_violations of load - ceiling
  // A lower bound on the N-1 excess (n1_excess) of any weights over these
  // candidates: the sum of n1_failure_bounds (0 when no failure is provably
  // unabsorbable); > 0 sets n1_infeasible.
  double n1_min_excess_bound = 0;
  bool n1_infeasible = false;               // proven: no N-1-safe weights exist
  graph::PopId n1_infeasible_failure = -1;  // the failure with the largest bound
  struct N1FailureBound {
    graph::PopId failed = 0;
    double min_excess = 0;  // > 0: no weights avoid this much overload when `failed` fails
  };
  std::vector<N1FailureBound> n1_failure_bounds;
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
