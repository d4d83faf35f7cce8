// NetworkSimplex: exact min-cost flow by the primal network simplex method
// (strongly feasible spanning-tree bases, block-search pricing), on double
// capacities, costs and supplies.
//
// The caller supplies a feasible initial spanning-tree basis (a tree arc per
// non-root node plus the nonbasic arcs that start at their upper bound): the
// optimizer builds one from its greedy assignment, which is much closer to
// the optimum than the textbook artificial-arc start. After SetCost() calls,
// Resolve() warm-starts from the last optimal basis: the flow stays feasible,
// only potentials are recomputed, so a small cost change costs few pivots.
// SetCapacity() changes an arc's capacity keeping the basis primal feasible
// (a flow above the new capacity moves to an uncapped parallel "bypass" arc,
// e.g. a PoP's overload arc beside its capacity arc); Resolve() then
// re-optimises from there.
//
// Arcs have lower bound 0 (shift lower bounds into supplies before). Uncapped
// arcs use kInfinity. Supplies must sum to zero; the network must not contain
// an uncapped negative-cost cycle (the optimizer's networks are acyclic).
//
// Parking (SetParkingCost) lets a caller keep arcs that can hardly ever pay
// (the optimizer's disabled paths) out of the pricing passes without
// changing the optimality test: they are proven non-entering by a bound on
// node potentials whenever the other arcs price out.
//
// Optimality tolerance: reduced costs above -epsilon() count as optimal, with
// epsilon = 1e-11 * max(1, max |cost|); Solve() ends with a pass on freshly
// recomputed potentials so rounding drift cannot fake optimality.
//
// Thread model: a single-threaded object; no shared state.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"

namespace vantage::optimizer {

class NetworkSimplex {
 public:
  static constexpr double kInfinity = std::numeric_limits<double>::infinity();

  struct ArcSpec {
    int source = 0;
    int target = 0;
    double capacity = kInfinity;
    double cost = 0;
  };

  NetworkSimplex(int node_count, std::vector<ArcSpec> arcs, std::vector<double> supply);

  // `tree_arc[v]` is v's arc towards `root` (ignored for the root);
  // `upper_arcs` are nonbasic arcs carrying their full (finite) capacity.
  // Fails if the basis is not a spanning tree or its flows are infeasible.
  absl::Status Solve(int root, const std::vector<int>& tree_arc,
                     const std::vector<int>& upper_arcs);

  // Parking: arcs at their lower bound whose cost is at least `cost` are
  // left out of the pricing passes (a warm re-solve then scans only the
  // arcs that may matter, e.g. the optimizer's disabled paths are most of
  // its network). They are not ignored: whenever the other arcs price out
  // optimal (on fresh potentials), every parked arc out of a node v is
  // bounded by cost + pi(v) - max_u pi(u) (exactly the comparison a pricing
  // pass makes, rounded monotonically), and the arcs of any node where that
  // bound could be below -epsilon() are priced one by one; a violated one
  // rejoins the pricing and the simplex goes on. So the optimality test is
  // the same as without parking. kInfinity (the default) parks nothing.
  void SetParkingCost(double cost);

  // Changes an arc's cost; call Resolve() afterwards. epsilon() is kept up
  // to date without rescanning every cost unless the largest one shrinks.
  void SetCost(int arc, double cost);
  // Changes an arc's capacity (>= 0) after Solve(); call Resolve()
  // afterwards. `bypass` must be an uncapped arc with the same source and
  // target as `arc`: flow above the new capacity moves onto it, so the
  // basis stays feasible (a basis exchange may make the bypass basic).
  absl::Status SetCapacity(int arc, double capacity, int bypass);
  absl::Status Resolve();
  // Whether lowering `arc`'s capacity to `capacity` by SetCapacity(arc,
  // capacity, bypass) leaves the basis alone: `arc` is nonbasic at 0, or
  // basic with its flow within `capacity`, or nonbasic at its upper bound
  // with `bypass` basic (the excess then just moves onto it). Tree, costs and
  // potentials stay the same, so an optimal basis stays optimal: after such
  // changes only, Resolve() would make no pivot and leave the flows as
  // SetCapacity() left them.
  bool LoweringKeepsBasis(int arc, double capacity, int bypass) const {
    const auto a = static_cast<size_t>(arc);
    if (!(capacity >= 0) || capacity > cap_[a]) return false;
    switch (state_[a]) {
      case kLower:
        return true;
      case kTree:
        return flow_[a] <= capacity;
      default:
        return state_[static_cast<size_t>(bypass)] == kTree;
    }
  }

  int arc_count() const { return static_cast<int>(source_.size()); }
  double flow(int arc) const { return flow_[static_cast<size_t>(arc)]; }
  double cost(int arc) const { return cost_[static_cast<size_t>(arc)]; }
  double capacity(int arc) const { return cap_[static_cast<size_t>(arc)]; }
  // Node potential: reduced cost of arc (u, v) is cost + potential(u) - potential(v).
  double potential(int node) const { return pi_[static_cast<size_t>(node)]; }
  double Objective() const;
  int64_t pivots() const { return pivots_; }
  double epsilon() const { return epsilon_; }

 private:
  enum : int8_t { kUpper = -1, kTree = 0, kLower = 1 };
  enum : int8_t { kDown = -1, kUp = 1 };

  absl::Status Run();
  int FindEntering();
  // The arcs priced by FindEntering() when parking: every arc not at its
  // lower bound or cheaper than park_cost_, ascending.
  void RebuildPriced();
  // Parked arcs with a reduced cost below -epsilon() on the current
  // potentials rejoin the priced list; whether any did.
  bool UnparkViolated();
  void Pivot(int entering);
  void RecomputePotentials();
  void ComputeEpsilon();
  void Detach(int parent, int child);
  void Attach(int parent, int child);

  int node_count_;
  int root_ = 0;
  std::vector<int> source_, target_;
  std::vector<double> cap_, cost_, flow_;
  std::vector<int8_t> state_;
  std::vector<double> supply_;

  std::vector<double> pi_;
  std::vector<int> parent_, pred_, depth_, first_child_, next_sib_, prev_sib_;
  std::vector<int8_t> dir_;
  std::vector<int> stack_;

  int next_arc_ = 0;
  // Parking (SetParkingCost): priced_ lists the arcs FindEntering() scans
  // (next_priced_ is its position); every other arc is at its lower bound
  // with cost >= park_cost_. out_begin_/out_arcs_: arcs by source node.
  double park_cost_ = kInfinity;
  std::vector<int> priced_;
  std::vector<uint8_t> in_priced_;
  bool priced_dirty_ = true;
  size_t next_priced_ = 0;
  std::vector<int> out_begin_, out_arcs_;
  int block_size_ = 1;
  double epsilon_ = 1e-11;
  double max_cost_ = 1.0;        // max(1, max |cost|) when max_cost_valid_
  bool max_cost_valid_ = false;  // else ComputeEpsilon() rescans the costs
  int64_t pivots_ = 0;
  bool solved_ = false;
};

}  // namespace vantage::optimizer
