// WarmFlowNetwork: the optimizer's min-cost-flow network kept between
// solves, so that a re-solve after path costs change starts from the last
// optimal basis (NetworkSimplex::SetCost + Resolve) instead of from scratch.
// Every Optimize() solves through one: OptimizerSession's (kept between
// calls), or a call-local one (stateless Optimize()); both are built the same
// way (every measured path), so a cold build gives the same optimal vertex
// in and out of sessions even when the LP has several. Within a call,
// re-solves after usable capacities change use ResolveCapacities().
//
// The network is the LP of weight_optimizer.h with the change limit applied
// (regions -> PoPs -> sink, keep/extra arcs, capacity and overload arcs), but
// with an arc for EVERY measured path of a region, not only its candidates:
// a path outside the candidate set costs kDisabledFactor x
// overload_penalty_ms, more than routing the unit over any candidate and
// overloading its PoP, so no optimum uses it and the LP equals the
// candidate-only LP. Candidate sets that change with the costs (a path
// entering or leaving a region's K best) are then just cost changes. Those
// disabled arcs are parked in the simplex (NetworkSimplex::SetParkingCost at
// the disabled cost) after the cold solve: the re-solves' pricing passes
// skip them, a potential bound proves they cannot enter, so a re-solve scans
// about half the arcs. The cold solve itself prices every arc, as before:
// parking changes the pivot order, and with it which optimal vertex a cold
// solve reaches when the LP has several (within the simplex tolerance); a
// warm session's results are checked against cold ones (tests, benchmark).
// A warm Solve() with a `changed` hint checks, re-prices and re-slots only
// the changed regions, in one pass over each.
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
    // Per pop: the LP load sum_r solved_demand_r * x_rk, summed in region
    // then candidate order (bit for bit what a fresh sum in that order gives).
    std::vector<double> load{};
  };

  // `paths[r]`: every measured path of region r (pop, cost, current weight);
  // plans[r].candidates must be a subset of it (by pop). `changed`, when
  // given, promises that every region r with changed[r] == 0 has the same
  // plan (candidates, costs, current weights, solved demand) and paths as
  // in the last Solve(): those regions are neither checked nor re-priced.
  // The solution goes to `*out`, reusing its storage.
  absl::Status Solve(const std::vector<RegionPlan>& plans,
                     const std::vector<std::vector<Candidate>>& paths,
                     const std::vector<double>& usable, const OptimizerConfig& cfg, Solution* out,
                     const std::vector<uint8_t>* changed = nullptr);

  // A one-off solve over the plans' candidates alone (no state kept): the
  // same network, with the change limit applied only when `limit_change`
  // (and cfg.max_weight_change < 1). Optimize() uses it for the solve
  // without a change limit and for the N-1 per-failure bounds.
  static absl::StatusOr<Solution> SolveOnce(const std::vector<RegionPlan>& plans,
                                            const std::vector<double>& usable,
                                            const OptimizerConfig& cfg, bool limit_change);

  // The N-1 per-failure bound networks, warm: for each PoP f in `failures`,
  // the least total overflow of routing every plan's solved demand over its
  // candidates (costs as given; the bounds pass zeros) with usable[f] = 0,
  // no change limit. One cold solve with `usable` as given, then one warm
  // capacity re-solve per failure (its PoP's capacity to 0, the previous
  // failure's restored), instead of a cold solve per failure. A region
  // whose only candidate is f overflows at f: the caller subtracts it.
  static absl::StatusOr<std::vector<double>> SolveFailures(
      const std::vector<RegionPlan>& plans, const std::vector<double>& usable,
      const OptimizerConfig& cfg, const std::vector<graph::PopId>& failures);
  // The same on a bound network this one keeps (a session's), built with
  // `paths` (every measured path, as for Solve(); the plans' candidates at
  // the plans' costs, the rest disabled), so that the next call starts warm
  // from this call's last basis: candidate sets that change are then cost
  // changes, as in Solve(). Same values as SolveFailures up to rounding
  // (another optimal basis of the same LP).
  absl::StatusOr<std::vector<double>> SolveFailuresKept(
      const std::vector<RegionPlan>& plans, const std::vector<std::vector<Candidate>>& paths,
      const std::vector<double>& usable, const OptimizerConfig& cfg,
      const std::vector<graph::PopId>& failures);

  // One Optimize() call may solve several times (the rounding loop). After
  // BeginCall(): whether its first Solve() was warm, how many arc costs
  // that one changed, and over all its solves, how many usable capacities
  // changed (warm) and how many solves there were.
  void BeginCall() { call_start_ = true; }
  // Re-solve after only usable capacities changed, for the same `plans`
  // (candidates, costs, demands) as the last Solve(): warm, no checks of
  // anything else. The rounding loop's re-solves within one call.
  absl::Status ResolveCapacities(const std::vector<RegionPlan>& plans,
                                 const std::vector<double>& usable, const OptimizerConfig& cfg,
                                 Solution* out);

  // The rounding loop's re-solve when it only lowers the usable capacities
  // of PoPs whose overload arc is basic (carries flow) and whose capacity
  // arc is saturated: the optimal basis stays optimal and the LP weights do
  // not change (NetworkSimplex::LoweringKeepsBasis), so the capacities are
  // applied without a re-solve and true is returned. Otherwise nothing is
  // changed and false is returned (call ResolveCapacities()).
  absl::StatusOr<bool> LowerCapacitiesKeepingBasis(const std::vector<double>& usable);

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

  static absl::StatusOr<std::vector<double>> SolveFailuresOn(
      WarmFlowNetwork& network, const std::vector<RegionPlan>& plans,
      const std::vector<std::vector<Candidate>>& paths, const std::vector<double>& usable,
      const OptimizerConfig& cfg, const std::vector<graph::PopId>& failures);
  absl::StatusOr<int64_t> ApplyCapacities(const std::vector<double>& usable);
  // ApplyCapacities, then a warm re-solve when any changed; the changes.
  absl::StatusOr<int64_t> ApplyAndResolve(const std::vector<double>& usable);
  // Slot of every plan candidate: cand_slot_[region_begin_[r] + k] for
  // plans[r].candidates[k] (and its pop and arcs in cand_pop_ etc.), for
  // every region after a Build(); a warm Solve() sets those of the regions
  // it re-prices in UpdateCosts().
  void CandidateSlots(const std::vector<RegionPlan>& plans);
  void SetCandidateSlot(size_t i, size_t slot);
  void ReadBack(const std::vector<RegionPlan>& plans, size_t pops, const OptimizerConfig& cfg,
                int64_t pivots, Solution* out) const;
  void Build(const std::vector<RegionPlan>& plans, const std::vector<std::vector<Candidate>>& paths,
             const std::vector<double>& usable, const OptimizerConfig& cfg);
  bool Constrained(const RegionPlan& plan, const OptimizerConfig& cfg) const;
  // Warm-start conditions: the network's shape and settings, then per region
  // the same demand, change limit and paths (pops and current weights).
  bool SameShape(const std::vector<RegionPlan>& plans, const std::vector<double>& usable,
                 const OptimizerConfig& cfg, const std::vector<uint8_t>* changed) const;
  bool SameRegion(size_t r, const RegionPlan& plan, const std::vector<Candidate>& paths,
                  const OptimizerConfig& cfg) const;
  // Sets the costs of region r's arcs for its plan's candidate set and
  // costs, and its candidates' slots; returns how many costs changed.
  int64_t UpdateCosts(size_t r, const RegionPlan& plan, const OptimizerConfig& cfg);

  std::unique_ptr<NetworkSimplex> simplex_;
  std::unique_ptr<WarmFlowNetwork> failure_network_;  // SolveFailuresKept's
  std::vector<size_t> region_begin_;                  // slots of region r: [begin[r], begin[r + 1])
  std::vector<Slot> slots_;                           // sorted by pop within a region
  std::vector<double> demand_;
  std::vector<bool> constrained_;
  std::vector<double> usable_;
  std::vector<double> lower_;    // per arc: lower bound shifted into supplies
  std::vector<int> lower_arcs_;  // arcs with lower_ != 0, ascending
  std::vector<int> cap_arc_, over_arc_;
  std::vector<int> tree_arc_, upper_arcs_;  // the initial basis of a cold solve
  double stability_ = 0, max_change_ = 0, penalty_ = 0;
  bool limit_change_ = true;    // false: no region is held to max_weight_change
  std::vector<double> wanted_;  // scratch
  std::vector<size_t> cand_slot_;
  // The same per plan candidate (same index): its pop, extra and keep arc.
  std::vector<int32_t> cand_pop_;
  std::vector<int> cand_extra_, cand_keep_;
  bool last_warm_ = false;
  int64_t last_cost_changes_ = 0;
  int64_t last_capacity_changes_ = 0;
  int last_solves_ = 0;
  bool call_start_ = true;
};

struct CandidateCache;

// Optimize() with its first solve through `network` (see above) and, when
// `cache` is given, the candidates of unchanged regions taken from it
// (optimizer/candidate_cache.h; use the same cache with the same network
// every call); the result equals Optimize(graph, cfg, now)'s.
absl::StatusOr<OptimizationResult> OptimizeWithNetwork(const graph::AnycastGraph& graph,
                                                       const OptimizerConfig& cfg, absl::Time now,
                                                       WarmFlowNetwork& network,
                                                       CandidateCache* cache = nullptr);

}  // namespace vantage::optimizer
