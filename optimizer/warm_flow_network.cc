#include "optimizer/warm_flow_network.h"

#include <algorithm>
#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <utility>

#include "core/status_macros.h"

namespace vantage::optimizer {

namespace {

struct FlowArc {
  double capacity = 0;
  double cost = 0;
};
using FlowGraph = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, FlowArc>;

// Paths of a region sorted by pop.
std::vector<const Candidate*> ByPop(const std::vector<Candidate>& paths) {
  std::vector<const Candidate*> out;
  out.reserve(paths.size());
  for (const Candidate& c : paths) out.push_back(&c);
  std::sort(out.begin(), out.end(),
            [](const Candidate* a, const Candidate* b) { return a->pop < b->pop; });
  return out;
}

}  // namespace

bool WarmFlowNetwork::Constrained(const RegionPlan& plan, const OptimizerConfig& cfg) const {
  if (!limit_change_ || cfg.max_weight_change >= 1.0 || plan.solved_demand <= 0) return false;
  double covered = 0;
  for (const Candidate& c : plan.candidates) covered += c.current_weight;
  return covered >= 1.0 - 1e-9;
}

absl::StatusOr<WarmFlowNetwork::Solution> WarmFlowNetwork::SolveOnce(
    const std::vector<RegionPlan>& plans, const std::vector<double>& usable,
    const OptimizerConfig& cfg, bool limit_change) {
  WarmFlowNetwork network;
  network.limit_change_ = limit_change;
  std::vector<std::vector<Candidate>> paths(plans.size());
  for (size_t r = 0; r < plans.size(); ++r) paths[r] = plans[r].candidates;
  Solution sol;
  VANTAGE_RETURN_IF_ERROR(network.Solve(plans, paths, usable, cfg, &sol));
  return sol;
}

absl::StatusOr<std::vector<double>> WarmFlowNetwork::SolveFailures(
    const std::vector<RegionPlan>& plans, const std::vector<double>& usable,
    const OptimizerConfig& cfg, const std::vector<graph::PopId>& failures) {
  WarmFlowNetwork network;
  std::vector<std::vector<Candidate>> paths(plans.size());
  for (size_t r = 0; r < plans.size(); ++r) paths[r] = plans[r].candidates;
  return SolveFailuresOn(network, plans, paths, usable, cfg, failures);
}

absl::StatusOr<std::vector<double>> WarmFlowNetwork::SolveFailuresKept(
    const std::vector<RegionPlan>& plans, const std::vector<std::vector<Candidate>>& paths,
    const std::vector<double>& usable, const OptimizerConfig& cfg,
    const std::vector<graph::PopId>& failures) {
  if (failure_network_ == nullptr) failure_network_ = std::make_unique<WarmFlowNetwork>();
  return SolveFailuresOn(*failure_network_, plans, paths, usable, cfg, failures);
}

absl::StatusOr<std::vector<double>> WarmFlowNetwork::SolveFailuresOn(
    WarmFlowNetwork& network, const std::vector<RegionPlan>& plans,
    const std::vector<std::vector<Candidate>>& paths, const std::vector<double>& usable,
    const OptimizerConfig& cfg, const std::vector<graph::PopId>& failures) {
  for (const graph::PopId f : failures) {
    if (f < 0 || static_cast<size_t>(f) >= usable.size()) {
      return absl::InvalidArgumentError("SolveFailures: no such PoP");
    }
  }
  network.limit_change_ = false;
  network.BeginCall();
  Solution sol;
  VANTAGE_RETURN_IF_ERROR(network.Solve(plans, paths, usable, cfg, &sol));
  std::vector<double> out;
  out.reserve(failures.size());
  std::vector<double> failed = usable;
  for (const graph::PopId f : failures) {
    const auto pop = static_cast<size_t>(f);
    failed[pop] = 0;
    // Only the total overflow is wanted: no weights read back.
    VANTAGE_RETURN_IF_ERROR(network.ApplyAndResolve(failed).status());
    failed[pop] = usable[pop];
    double overflow = 0;
    for (const int arc : network.over_arc_) overflow += network.simplex_->flow(arc);
    out.push_back(overflow);
  }
  return out;
}

bool WarmFlowNetwork::SameShape(const std::vector<RegionPlan>& plans,
                                const std::vector<double>& usable, const OptimizerConfig& cfg,
                                const std::vector<uint8_t>* changed) const {
  if (simplex_ == nullptr || plans.size() + 1 != region_begin_.size() ||
      usable.size() != usable_.size() || cfg.stability_cost_ms != stability_ ||
      cfg.max_weight_change != max_change_ || cfg.overload_penalty_ms != penalty_ ||
      cand_slot_.size() != slots_.size()) {
    return false;
  }
  return changed == nullptr || changed->size() == plans.size();
}

bool WarmFlowNetwork::SameRegion(size_t r, const RegionPlan& plan,
                                 const std::vector<Candidate>& paths,
                                 const OptimizerConfig& cfg) const {
  if (plan.solved_demand != demand_[r] || Constrained(plan, cfg) != constrained_[r] ||
      paths.size() != region_begin_[r + 1] - region_begin_[r]) {
    return false;
  }
  // Slots are sorted by pop; paths come sorted by cost: look each one up.
  const auto first = slots_.begin() + static_cast<std::ptrdiff_t>(region_begin_[r]);
  const auto last = slots_.begin() + static_cast<std::ptrdiff_t>(region_begin_[r + 1]);
  for (const Candidate& c : paths) {
    const auto it = std::lower_bound(first, last, c.pop,
                                     [](const Slot& s, int32_t pop) { return s.pop < pop; });
    if (it == last || it->pop != c.pop || it->current_weight != c.current_weight) return false;
  }
  return true;
}

int64_t WarmFlowNetwork::UpdateCosts(size_t r, const RegionPlan& plan, const OptimizerConfig& cfg) {
  const double disabled = kDisabledFactor * cfg.overload_penalty_ms;
  const size_t begin = region_begin_[r];
  const size_t end = region_begin_[r + 1];
  wanted_.assign(end - begin, disabled);
  size_t i = begin;  // the candidates' slots, as CandidateSlots() sets them
  for (const Candidate& c : plan.candidates) {
    const auto it = std::lower_bound(slots_.begin() + static_cast<std::ptrdiff_t>(begin),
                                     slots_.begin() + static_cast<std::ptrdiff_t>(end), c.pop,
                                     [](const Slot& s, int32_t pop) { return s.pop < pop; });
    const auto slot = static_cast<size_t>(it - slots_.begin());
    wanted_[slot - begin] = c.cost_ms;
    SetCandidateSlot(i++, slot);
  }
  int64_t changes = 0;
  auto set = [&](int arc, double cost) {
    if (simplex_->cost(arc) != cost) {
      simplex_->SetCost(arc, cost);
      ++changes;
    }
  };
  for (size_t s = begin; s < end; ++s) {
    const Slot& slot = slots_[s];
    const double cost = wanted_[s - begin];
    set(slot.extra, cost);
    if (slot.keep >= 0) set(slot.keep, cost == disabled ? disabled : cost - cfg.stability_cost_ms);
  }
  return changes;
}

void WarmFlowNetwork::Build(const std::vector<RegionPlan>& plans,
                            const std::vector<std::vector<Candidate>>& paths,
                            const std::vector<double>& usable, const OptimizerConfig& cfg) {
  const int regions = static_cast<int>(plans.size());
  const int pops = static_cast<int>(usable.size());
  const int sink = regions + pops;
  const int nodes = sink + 1;
  const double delta = cfg.max_weight_change;
  const double s = cfg.stability_cost_ms;
  const double disabled = kDisabledFactor * cfg.overload_penalty_ms;
  stability_ = s;
  max_change_ = delta;
  penalty_ = cfg.overload_penalty_ms;
  usable_ = usable;
  region_begin_.assign(1, 0);
  slots_.clear();
  demand_.assign(plans.size(), 0.0);
  constrained_.assign(plans.size(), false);

  std::vector<std::pair<int, int>> ends;
  std::vector<FlowArc> props;
  lower_.clear();
  std::vector<double> supply(static_cast<size_t>(nodes), 0.0);
  std::vector<int> tree_arc(static_cast<size_t>(nodes), -1);
  std::vector<int> upper_arcs;
  std::vector<double> load(static_cast<size_t>(pops), 0.0);
  double total = 0;
  auto add_arc = [&](int from, int to, double cap, double cost, double lo) {
    ends.emplace_back(from, to);
    props.push_back({cap - lo, cost});
    lower_.push_back(lo);
    return static_cast<int>(ends.size()) - 1;
  };
  for (int r = 0; r < regions; ++r) {
    const RegionPlan& plan = plans[static_cast<size_t>(r)];
    const double d = plan.solved_demand;
    demand_[static_cast<size_t>(r)] = d;
    total += d;
    const bool constrained = Constrained(plan, cfg);
    constrained_[static_cast<size_t>(r)] = constrained;
    double lower_sum = 0;
    double keep_sum = 0;
    int best_extra = -1;
    int32_t best_pop = 0;
    double best_cap = -1;
    double best_cost = 0;
    for (const Candidate* c : ByPop(paths[static_cast<size_t>(r)])) {
      // A candidate's arc costs the plan's cost (the path's, except in the
      // N-1 bound networks, whose plans price every candidate at 0).
      bool candidate = false;
      double cost = disabled;
      for (const Candidate& k : plan.candidates) {
        if (k.pop == c->pop) {
          candidate = true;
          cost = k.cost_ms;
        }
      }
      const int pop_node = regions + c->pop;
      Slot slot{c->pop, c->current_weight, -1, 0};
      const double keep_cap = d * c->current_weight;
      if (c->current_weight > 0 && (s > 0 || constrained)) {
        const double lo = constrained ? d * std::max(0.0, c->current_weight - delta) : 0.0;
        slot.keep = add_arc(r, pop_node, keep_cap, candidate ? cost - s : disabled, lo);
        lower_sum += lo;
        keep_sum += keep_cap;
        supply[static_cast<size_t>(pop_node)] += lo;
        load[static_cast<size_t>(c->pop)] += keep_cap;
        if (keep_cap - lo > 0) upper_arcs.push_back(slot.keep);
      }
      double extra_cap = NetworkSimplex::kInfinity;
      if (constrained) {
        const double upper = d * std::min(1.0, c->current_weight + delta);
        extra_cap = std::max(0.0, upper - (slot.keep >= 0 ? keep_cap : 0.0));
      }
      slot.extra = add_arc(r, pop_node, extra_cap, cost, 0.0);
      // Tree arc: the extra arc with the most room, cheapest first.
      if (extra_cap > best_cap || (extra_cap == best_cap && cost < best_cost)) {
        best_cap = extra_cap;
        best_cost = cost;
        best_extra = slot.extra;
        best_pop = c->pop;
      }
      slots_.push_back(slot);
    }
    region_begin_.push_back(slots_.size());
    supply[static_cast<size_t>(r)] = d - lower_sum;
    tree_arc[static_cast<size_t>(r)] = best_extra;
    const double rem = d - keep_sum;
    if (rem > 0 && best_extra >= 0) load[static_cast<size_t>(best_pop)] += rem;
  }
  cap_arc_.assign(static_cast<size_t>(pops), -1);
  over_arc_.assign(static_cast<size_t>(pops), -1);
  double scale = 1.0;
  for (const RegionPlan& p : plans) scale = std::max(scale, p.solved_demand);
  for (int p = 0; p < pops; ++p) {
    const int node = regions + p;
    const double e = usable[static_cast<size_t>(p)];
    cap_arc_[static_cast<size_t>(p)] = add_arc(node, sink, e, 0.0, 0.0);
    over_arc_[static_cast<size_t>(p)] =
        add_arc(node, sink, NetworkSimplex::kInfinity, cfg.overload_penalty_ms, 0.0);
    if (load[static_cast<size_t>(p)] < e - 1e-9 * scale) {
      tree_arc[static_cast<size_t>(node)] = cap_arc_[static_cast<size_t>(p)];
    } else {
      tree_arc[static_cast<size_t>(node)] = over_arc_[static_cast<size_t>(p)];
      upper_arcs.push_back(cap_arc_[static_cast<size_t>(p)]);
    }
  }
  supply[static_cast<size_t>(sink)] = -total;
  lower_arcs_.clear();
  for (size_t a = 0; a < lower_.size(); ++a) {
    if (lower_[a] != 0) lower_arcs_.push_back(static_cast<int>(a));
  }
  FlowGraph g(boost::edges_are_sorted, ends.begin(), ends.end(), props.begin(),
              static_cast<FlowGraph::vertices_size_type>(nodes));
  std::vector<NetworkSimplex::ArcSpec> specs(ends.size());
  for (auto [it, end] = boost::edges(g); it != end; ++it) {
    const auto idx = boost::get(boost::edge_index, g, *it);
    specs[idx] = {static_cast<int>(boost::source(*it, g)), static_cast<int>(boost::target(*it, g)),
                  g[*it].capacity, g[*it].cost};
  }
  simplex_ = std::make_unique<NetworkSimplex>(nodes, std::move(specs), std::move(supply));
  std::sort(upper_arcs.begin(), upper_arcs.end());
  tree_arc_ = std::move(tree_arc);
  upper_arcs_ = std::move(upper_arcs);
}

absl::Status WarmFlowNetwork::Solve(const std::vector<RegionPlan>& plans,
                                    const std::vector<std::vector<Candidate>>& paths,
                                    const std::vector<double>& usable, const OptimizerConfig& cfg,
                                    Solution* out, const std::vector<uint8_t>* changed) {
  const int64_t pivots_before = simplex_ != nullptr ? simplex_->pivots() : 0;
  int64_t pivots_base = pivots_before;
  int64_t cost_changes = 0;
  int64_t capacity_changes = 0;
  // Warm when the shape is the same and every (changed) region has the
  // same paths: checked and re-priced region by region in one pass (a
  // mismatch found midway rebuilds, so the costs set before it do not
  // matter); the re-priced regions' candidate slots are set on the way.
  bool warm = SameShape(plans, usable, cfg, changed);
  for (size_t r = 0; warm && r < plans.size(); ++r) {
    if (changed != nullptr && (*changed)[r] == 0) continue;
    warm = SameRegion(r, plans[r], paths[r], cfg);
    if (warm) cost_changes += UpdateCosts(r, plans[r], cfg);
  }
  if (warm) {
    VANTAGE_ASSIGN_OR_RETURN(capacity_changes, ApplyCapacities(usable));
    if (cost_changes > 0 || capacity_changes > 0) {
      absl::Status st = simplex_->Resolve();
      if (!st.ok()) {
        simplex_.reset();
        return st;
      }
    }
  } else {
    cost_changes = 0;
    Build(plans, paths, usable, cfg);
    pivots_base = 0;
    absl::Status st =
        simplex_->Solve(static_cast<int>(plans.size() + usable.size()), tree_arc_, upper_arcs_);
    if (!st.ok()) {
      simplex_.reset();
      return st;
    }
    // Paths outside the candidate sets (about half the arcs) are parked for
    // the re-solves that follow (not for this cold solve: its pivots, hence
    // its optimal vertex when the LP has several, stay those of a plain
    // solve).
    simplex_->SetParkingCost(kDisabledFactor * cfg.overload_penalty_ms);
  }
  if (call_start_) {
    call_start_ = false;
    last_warm_ = warm;
    last_cost_changes_ = cost_changes;
    last_capacity_changes_ = 0;
    last_solves_ = 0;
  }
  last_capacity_changes_ += capacity_changes;
  ++last_solves_;
  if (!warm) CandidateSlots(plans);
  ReadBack(plans, usable.size(), cfg, simplex_->pivots() - pivots_base, out);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> WarmFlowNetwork::ApplyCapacities(const std::vector<double>& usable) {
  // Usable capacities (the rounding reserve) change warm: a PoP's overload
  // arc is the uncapped bypass of its capacity arc.
  int64_t changes = 0;
  for (size_t p = 0; p < usable.size(); ++p) {
    if (usable[p] == usable_[p]) continue;
    absl::Status st = simplex_->SetCapacity(cap_arc_[p], usable[p], over_arc_[p]);
    if (!st.ok()) {
      simplex_.reset();
      return st;
    }
    usable_[p] = usable[p];
    ++changes;
  }
  return changes;
}

absl::StatusOr<int64_t> WarmFlowNetwork::ApplyAndResolve(const std::vector<double>& usable) {
  VANTAGE_ASSIGN_OR_RETURN(const int64_t changes, ApplyCapacities(usable));
  if (changes > 0) {
    if (absl::Status st = simplex_->Resolve(); !st.ok()) {
      simplex_.reset();
      return st;
    }
  }
  return changes;
}

absl::Status WarmFlowNetwork::ResolveCapacities(const std::vector<RegionPlan>& plans,
                                                const std::vector<double>& usable,
                                                const OptimizerConfig& cfg, Solution* out) {
  if (simplex_ == nullptr || usable.size() != usable_.size() ||
      plans.size() + 1 != region_begin_.size() || cand_slot_.size() != slots_.size()) {
    return absl::FailedPreconditionError("warm flow network: ResolveCapacities() before Solve()");
  }
  const int64_t pivots_before = simplex_->pivots();
  VANTAGE_ASSIGN_OR_RETURN(const int64_t changes, ApplyAndResolve(usable));
  last_capacity_changes_ += changes;
  ++last_solves_;
  ReadBack(plans, usable.size(), cfg, simplex_->pivots() - pivots_before, out);
  return absl::OkStatus();
}

absl::StatusOr<bool> WarmFlowNetwork::LowerCapacitiesKeepingBasis(
    const std::vector<double>& usable) {
  if (simplex_ == nullptr || usable.size() != usable_.size()) return false;
  for (size_t p = 0; p < usable.size(); ++p) {
    if (usable[p] == usable_[p]) continue;
    if (!simplex_->LoweringKeepsBasis(cap_arc_[p], usable[p], over_arc_[p])) {
      return false;
    }
  }
  VANTAGE_ASSIGN_OR_RETURN(const int64_t changes, ApplyCapacities(usable));
  last_capacity_changes_ += changes;
  return true;
}

void WarmFlowNetwork::SetCandidateSlot(size_t i, size_t slot) {
  cand_slot_[i] = slot;
  cand_pop_[i] = slots_[slot].pop;
  cand_extra_[i] = slots_[slot].extra;
  cand_keep_[i] = slots_[slot].keep;
}

void WarmFlowNetwork::CandidateSlots(const std::vector<RegionPlan>& plans) {
  cand_slot_.assign(slots_.size(), 0);
  cand_pop_.assign(slots_.size(), 0);
  cand_extra_.assign(slots_.size(), 0);
  cand_keep_.assign(slots_.size(), -1);
  for (size_t r = 0; r < plans.size(); ++r) {
    const auto first = slots_.begin() + static_cast<std::ptrdiff_t>(region_begin_[r]);
    const auto last = slots_.begin() + static_cast<std::ptrdiff_t>(region_begin_[r + 1]);
    size_t i = region_begin_[r];
    for (const Candidate& c : plans[r].candidates) {
      const auto it = std::lower_bound(first, last, c.pop,
                                       [](const Slot& s, int32_t pop) { return s.pop < pop; });
      SetCandidateSlot(i++, static_cast<size_t>(it - slots_.begin()));
    }
  }
}

void WarmFlowNetwork::ReadBack(const std::vector<RegionPlan>& plans, size_t pops,
                               const OptimizerConfig& cfg, int64_t pivots, Solution* out) const {
  Solution& sol = *out;
  sol.pivots = pivots;
  sol.lp_objective = simplex_->Objective();
  for (const int a : lower_arcs_) {
    sol.lp_objective += lower_[static_cast<size_t>(a)] * simplex_->cost(a);
  }
  sol.relaxed.assign(plans.size(), false);
  sol.x.resize(plans.size());
  sol.load.assign(pops, 0.0);
  for (size_t r = 0; r < plans.size(); ++r) {
    const RegionPlan& plan = plans[r];
    sol.relaxed[r] = limit_change_ && cfg.max_weight_change < 1.0 && !constrained_[r];
    auto& xs = sol.x[r];
    xs.assign(plan.candidates.size(), 0.0);
    const double d = plan.solved_demand;
    if (d <= 0) continue;
    const size_t base = region_begin_[r];
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      const size_t i = base + k;
      double f = simplex_->flow(cand_extra_[i]);
      if (const int keep = cand_keep_[i]; keep >= 0) {
        f += simplex_->flow(keep) + lower_[static_cast<size_t>(keep)];
      }
      xs[k] = f / d;
      sol.load[static_cast<size_t>(cand_pop_[i])] += d * xs[k];
    }
  }
  sol.overflow.assign(pops, 0.0);
  sol.total_overflow = 0;
  for (size_t p = 0; p < pops; ++p) {
    const double o = simplex_->flow(over_arc_[p]);
    sol.overflow[p] = o;
    sol.total_overflow += o;
  }
}

}  // namespace vantage::optimizer
