#include "optimizer/network_simplex.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_format.h"

namespace vantage::optimizer {
int64_t g_scanned = 0;
int g_unpark = 0;

NetworkSimplex::NetworkSimplex(int node_count, std::vector<ArcSpec> arcs,
                               std::vector<double> supply)
    : node_count_(node_count), supply_(std::move(supply)) {
  const size_t m = arcs.size();
  source_.resize(m);
  target_.resize(m);
  cap_.resize(m);
  cost_.resize(m);
  flow_.assign(m, 0.0);
  state_.assign(m, kLower);
  for (size_t a = 0; a < m; ++a) {
    source_[a] = arcs[a].source;
    target_[a] = arcs[a].target;
    cap_[a] = arcs[a].capacity;
    cost_[a] = arcs[a].cost;
  }
  const auto n = static_cast<size_t>(node_count);
  supply_.resize(n, 0.0);
  pi_.assign(n, 0.0);
  parent_.assign(n, -1);
  pred_.assign(n, -1);
  depth_.assign(n, 0);
  first_child_.assign(n, -1);
  next_sib_.assign(n, -1);
  prev_sib_.assign(n, -1);
  dir_.assign(n, kUp);
  block_size_ = std::max(10, static_cast<int>(std::sqrt(static_cast<double>(m))));
}

void NetworkSimplex::ComputeEpsilon() {
  if (max_cost_valid_) return;
  double max_cost = 1.0;
  for (double c : cost_) max_cost = std::max(max_cost, std::fabs(c));
  max_cost_ = max_cost;
  max_cost_valid_ = true;
  epsilon_ = 1e-11 * max_cost;
}

double NetworkSimplex::Objective() const {
  // A nonbasic arc at its lower bound carries exactly 0 (Solve() and
  // Pivot() set it so): only the others can add a term. Same terms in the
  // same (arc) order as summing over every arc.
  double total = 0;
  for (size_t a = 0; a < cost_.size(); ++a) {
    if (state_[a] != kLower && flow_[a] != 0) total += cost_[a] * flow_[a];
  }
  return total;
}

void NetworkSimplex::Detach(int parent, int child) {
  const auto c = static_cast<size_t>(child);
  if (prev_sib_[c] >= 0) {
    next_sib_[static_cast<size_t>(prev_sib_[c])] = next_sib_[c];
  } else {
    first_child_[static_cast<size_t>(parent)] = next_sib_[c];
  }
  if (next_sib_[c] >= 0) prev_sib_[static_cast<size_t>(next_sib_[c])] = prev_sib_[c];
  next_sib_[c] = prev_sib_[c] = -1;
}

void NetworkSimplex::Attach(int parent, int child) {
  const auto c = static_cast<size_t>(child);
  const auto p = static_cast<size_t>(parent);
  next_sib_[c] = first_child_[p];
  prev_sib_[c] = -1;
  if (first_child_[p] >= 0) prev_sib_[static_cast<size_t>(first_child_[p])] = child;
  first_child_[p] = child;
}

absl::Status NetworkSimplex::Solve(int root, const std::vector<int>& tree_arc,
                                   const std::vector<int>& upper_arcs) {
  const auto n = static_cast<size_t>(node_count_);
  if (root < 0 || root >= node_count_ || tree_arc.size() != n) {
    return absl::InvalidArgumentError("network simplex: bad root or tree size");
  }
  root_ = root;
  std::fill(state_.begin(), state_.end(), kLower);
  std::fill(flow_.begin(), flow_.end(), 0.0);
  std::fill(first_child_.begin(), first_child_.end(), -1);
  for (int a : upper_arcs) {
    const auto ua = static_cast<size_t>(a);
    if (!std::isfinite(cap_[ua])) {
      return absl::InvalidArgumentError("network simplex: uncapped arc at its upper bound");
    }
    state_[ua] = kUpper;
    flow_[ua] = cap_[ua];
  }
  parent_[static_cast<size_t>(root)] = -1;
  pred_[static_cast<size_t>(root)] = -1;
  for (size_t v = 0; v < n; ++v) {
    if (static_cast<int>(v) == root) continue;
    const int a = tree_arc[v];
    if (a < 0 || a >= arc_count())
      return absl::InvalidArgumentError("network simplex: bad tree arc");
    const auto ua = static_cast<size_t>(a);
    if (state_[ua] != kLower) return absl::InvalidArgumentError("network simplex: arc used twice");
    state_[ua] = kTree;
    pred_[v] = a;
    if (source_[ua] == static_cast<int>(v)) {
      parent_[v] = target_[ua];
      dir_[v] = kUp;
    } else if (target_[ua] == static_cast<int>(v)) {
      parent_[v] = source_[ua];
      dir_[v] = kDown;
    } else {
      return absl::InvalidArgumentError("network simplex: tree arc does not touch its node");
    }
    Attach(parent_[v], static_cast<int>(v));
  }
  // Preorder from the root; every node must be reached exactly once.
  std::vector<int> order;
  order.reserve(n);
  order.push_back(root);
  depth_[static_cast<size_t>(root)] = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const int v = order[i];
    for (int c = first_child_[static_cast<size_t>(v)]; c >= 0;
         c = next_sib_[static_cast<size_t>(c)]) {
      depth_[static_cast<size_t>(c)] = depth_[static_cast<size_t>(v)] + 1;
      order.push_back(c);
      if (order.size() > n) break;
    }
  }
  if (order.size() != n)
    return absl::InvalidArgumentError("network simplex: basis is not a spanning tree");

  // Tree flows from the leaves up.
  std::vector<double> excess(supply_);
  double scale = 1.0;
  for (double s : supply_) scale = std::max(scale, std::fabs(s));
  for (size_t a = 0; a < cap_.size(); ++a) {
    if (state_[a] == kUpper) {
      excess[static_cast<size_t>(source_[a])] -= flow_[a];
      excess[static_cast<size_t>(target_[a])] += flow_[a];
      scale = std::max(scale, flow_[a]);
    }
  }
  const double tol = 1e-9 * scale;
  for (size_t i = order.size(); i-- > 1;) {
    const auto v = static_cast<size_t>(order[i]);
    const auto a = static_cast<size_t>(pred_[v]);
    double f = dir_[v] == kUp ? excess[v] : -excess[v];
    if (f < 0) {
      if (f < -tol) {
        return absl::InvalidArgumentError(
            absl::StrFormat("network simplex: initial basis infeasible (arc %d flow %g)", a, f));
      }
      f = 0;
    }
    if (f > cap_[a]) {
      if (f > cap_[a] + tol) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "network simplex: initial basis infeasible (arc %d flow %g > cap %g)", a, f, cap_[a]));
      }
      f = cap_[a];
    }
    flow_[a] = f;
    excess[static_cast<size_t>(parent_[v])] += excess[v];
  }
  ComputeEpsilon();
  RecomputePotentials();
  next_arc_ = 0;
  priced_.clear();
  next_priced_ = 0;
  priced_dirty_ = true;
  pivots_ = 0;
  solved_ = true;
  return Run();
}

void NetworkSimplex::SetParkingCost(double cost) {
  park_cost_ = cost;
  priced_dirty_ = true;
  if (!std::isfinite(cost) || !out_begin_.empty()) return;
  const auto n = static_cast<size_t>(node_count_);
  out_begin_.assign(n + 1, 0);
  for (const int s : source_) ++out_begin_[static_cast<size_t>(s) + 1];
  for (size_t v = 0; v < n; ++v) out_begin_[v + 1] += out_begin_[v];
  out_arcs_.resize(source_.size());
  std::vector<int> fill(out_begin_.begin(), out_begin_.end() - 1);
  for (size_t a = 0; a < source_.size(); ++a) {
    out_arcs_[static_cast<size_t>(fill[static_cast<size_t>(source_[a])]++)] = static_cast<int>(a);
  }
}

void NetworkSimplex::RebuildPriced() {
  priced_dirty_ = false;
  const int resume = priced_.empty() ? next_arc_ : priced_[next_priced_ % priced_.size()];
  priced_.clear();
  in_priced_.assign(cost_.size(), 0);
  for (size_t a = 0; a < cost_.size(); ++a) {
    if (state_[a] != kLower || cost_[a] < park_cost_) {
      priced_.push_back(static_cast<int>(a));
      in_priced_[a] = 1;
    }
  }
  // Go on scanning where the last pass stopped (as without parking).
  next_priced_ = static_cast<size_t>(std::lower_bound(priced_.begin(), priced_.end(), resume) -
                                     priced_.begin());
  if (next_priced_ >= priced_.size()) next_priced_ = 0;
}

bool NetworkSimplex::UnparkViolated() {
  if (!std::isfinite(park_cost_)) return false;
  double max_pi = -kInfinity;
  for (const double p : pi_) max_pi = std::max(max_pi, p);
  bool any = false;
  for (size_t v = 0; v < static_cast<size_t>(node_count_); ++v) {
    // Every parked arc (u = v, w) has cost >= park_cost_ and pi(w) <=
    // max_pi, so its reduced cost is at least this (monotone rounding).
    if (park_cost_ + pi_[v] - max_pi >= -epsilon_) continue;
    for (int i = out_begin_[v]; i < out_begin_[v + 1]; ++i) {
      const auto a = static_cast<size_t>(out_arcs_[static_cast<size_t>(i)]);
      if (in_priced_[a] != 0) continue;
      if (cost_[a] + pi_[v] - pi_[static_cast<size_t>(target_[a])] < -epsilon_) {
        in_priced_[a] = 1;
        priced_.push_back(static_cast<int>(a));
        any = true;
        ++g_unpark;
      }
    }
  }
  return any;
}

void NetworkSimplex::SetCost(int arc, double cost) {
  if (std::isfinite(park_cost_)) priced_dirty_ = true;
  double& c = cost_[static_cast<size_t>(arc)];
  // epsilon() follows max(1, max |cost|): a larger cost raises it at once; a
  // cost that was the maximum and shrinks makes the next Resolve() rescan.
  if (max_cost_valid_) {
    if (std::fabs(cost) > max_cost_) {
      max_cost_ = std::fabs(cost);
      epsilon_ = 1e-11 * max_cost_;
    } else if (std::fabs(c) == max_cost_ && std::fabs(cost) < max_cost_) {
      max_cost_valid_ = false;
    }
  }
  c = cost;
}

absl::Status NetworkSimplex::SetCapacity(int arc, double capacity, int bypass) {
  if (!solved_)
    return absl::FailedPreconditionError("network simplex: SetCapacity() before Solve()");
  if (arc < 0 || arc >= arc_count() || bypass < 0 || bypass >= arc_count() || arc == bypass) {
    return absl::InvalidArgumentError("network simplex: bad arc or bypass");
  }
  const auto a = static_cast<size_t>(arc);
  const auto b = static_cast<size_t>(bypass);
  if (source_[a] != source_[b] || target_[a] != target_[b] || std::isfinite(cap_[b])) {
    return absl::InvalidArgumentError("network simplex: bypass is not an uncapped parallel arc");
  }
  if (!(capacity >= 0)) return absl::InvalidArgumentError("network simplex: negative capacity");
  // Its pivots may move `arc` or `bypass` off their lower bound: parked
  // arcs must not, so rebuild the priced list then.
  if (std::isfinite(park_cost_) && !priced_dirty_ && (in_priced_[a] == 0 || in_priced_[b] == 0)) {
    priced_dirty_ = true;
  }
  const double old = cap_[a];
  cap_[a] = capacity;
  double excess = 0;
  if (state_[a] == kUpper) {
    if (capacity > old) {
      // Its flow is now strictly inside the bounds: push it up towards the
      // new capacity around its cycle (a feasible pivot; the arc either
      // reaches the capacity or enters the tree where something blocks).
      state_[a] = kLower;
      Pivot(arc);
      return absl::OkStatus();
    }
    excess = flow_[a] - capacity;
    flow_[a] = capacity;
  } else if (state_[a] == kTree) {
    if (flow_[a] <= capacity) return absl::OkStatus();
    excess = flow_[a] - capacity;
    flow_[a] = capacity;  // a tree arc at its bound: a degenerate basis
  }
  if (excess <= 0) return absl::OkStatus();
  if (state_[b] == kTree) {
    flow_[b] += excess;
    return absl::OkStatus();
  }
  // The bypass (nonbasic at 0) takes the excess: node balances hold, but it
  // is now strictly inside its bounds. Treat it as if at an upper bound
  // equal to the excess and pivot it down: the excess either drains away
  // around its tree cycle (the bypass returns to 0) or the bypass enters
  // the tree where an arc of the cycle blocks.
  cap_[b] = excess;
  flow_[b] = excess;
  state_[b] = kUpper;
  Pivot(bypass);
  cap_[b] = kInfinity;
  return absl::OkStatus();
}

absl::Status NetworkSimplex::Resolve() {
  if (!solved_) return absl::FailedPreconditionError("network simplex: Resolve() before Solve()");
  auto t0 = std::chrono::steady_clock::now();
  ComputeEpsilon();
  RecomputePotentials();
  g_scanned = 0;
  g_unpark = 0;
  int64_t p0 = pivots_;
  auto st = Run();
  if (getenv("OPT_TT"))
    fprintf(
        stderr, "   resolve scanned %lld pivots %lld priced %zu unpark %d  %.2f ms\n",
        (long long)g_scanned, (long long)(pivots_ - p0), priced_.size(), g_unpark,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  return st;
}

void NetworkSimplex::RecomputePotentials() {
  stack_.clear();
  stack_.push_back(root_);
  pi_[static_cast<size_t>(root_)] = 0;
  depth_[static_cast<size_t>(root_)] = 0;
  while (!stack_.empty()) {
    const int v = stack_.back();
    stack_.pop_back();
    for (int c = first_child_[static_cast<size_t>(v)]; c >= 0;
         c = next_sib_[static_cast<size_t>(c)]) {
      const auto uc = static_cast<size_t>(c);
      const double arc_cost = cost_[static_cast<size_t>(pred_[uc])];
      pi_[uc] = dir_[uc] == kUp ? pi_[static_cast<size_t>(v)] - arc_cost
                                : pi_[static_cast<size_t>(v)] + arc_cost;
      depth_[uc] = depth_[static_cast<size_t>(v)] + 1;
      stack_.push_back(c);
    }
  }
}

int NetworkSimplex::FindEntering() {
  if (std::isfinite(park_cost_)) {
    // Block search over the priced arcs, from where the last call stopped:
    // after each block of block_size_ arcs, the best one so far enters.
    const size_t m = priced_.size();
    const int* const arcs = priced_.data();
    const double* const cost = cost_.data();
    const double* const pi = pi_.data();
    const int* const src = source_.data();
    const int* const dst = target_.data();
    const int8_t* const state = state_.data();
    double best = -epsilon_;
    int best_arc = -1;
    size_t pos = next_priced_ < m ? next_priced_ : 0;
    size_t left = m;
    while (left > 0) {
      size_t todo = std::min(left, static_cast<size_t>(block_size_));
      left -= todo;
      while (todo > 0) {
        const size_t end = std::min(m, pos + todo);
        for (size_t i = pos; i < end; ++i) {
          const auto a = static_cast<size_t>(arcs[i]);
          const double c =
              static_cast<double>(state[a]) *
              (cost[a] + pi[static_cast<size_t>(src[a])] - pi[static_cast<size_t>(dst[a])]);
          if (c < best) {
            best = c;
            best_arc = static_cast<int>(a);
          }
        }
        todo -= end - pos;
        pos = end == m ? 0 : end;
      }
      if (best_arc >= 0) break;
    }
    next_priced_ = pos;
    return best_arc;
  }
  const int m = arc_count();
  double best = -epsilon_;
  int best_arc = -1;
  int count = block_size_;
  for (int i = 0; i < m; ++i) {
    const auto a = static_cast<size_t>(next_arc_);
    if (++next_arc_ == m) next_arc_ = 0;
    const double c =
        static_cast<double>(state_[a]) *
        (cost_[a] + pi_[static_cast<size_t>(source_[a])] - pi_[static_cast<size_t>(target_[a])]);
    if (c < best) {
      best = c;
      best_arc = static_cast<int>(a);
    }
    if (--count == 0) {
      if (best_arc >= 0) return best_arc;
      count = block_size_;
    }
  }
  return best_arc;
}

absl::Status NetworkSimplex::Run() {
  const int64_t limit = 1000 + 50 * static_cast<int64_t>(arc_count());
  if (std::isfinite(park_cost_) && priced_dirty_) RebuildPriced();
  int refreshes = 0;
  for (;;) {
    bool pivoted = false;
    for (;;) {
      const int entering = FindEntering();
      if (entering < 0) break;
      Pivot(entering);
      pivoted = true;
      if (++pivots_ > limit) {
        return absl::ResourceExhaustedError("network simplex: pivot limit reached (cycling?)");
      }
    }
    // Every round starts on freshly computed potentials (Solve and Resolve
    // compute them, and so does the previous round): without a pivot, the
    // pass that found no entering arc already ran on fresh ones.
    if (pivoted) {
      // Incremental potential updates drift; confirm on fresh ones.
      RecomputePotentials();
      if (FindEntering() >= 0) {
        if (++refreshes == 8) break;
        continue;
      }
    }
    // Optimal over the priced arcs, on fresh potentials: so are the parked
    // ones, unless some rejoin the pricing.
    if (!UnparkViolated()) return absl::OkStatus();
  }
  return absl::InternalError("network simplex: no stable optimum after potential refreshes");
}

void NetworkSimplex::Pivot(int entering) {
  const auto e = static_cast<size_t>(entering);
  int first, second;
  if (state_[e] == kLower) {
    first = source_[e];
    second = target_[e];
  } else {
    first = target_[e];
    second = source_[e];
  }
  double delta = state_[e] == kLower ? cap_[e] - flow_[e] : flow_[e];
  // Apex of the cycle.
  int u = first, w = second;
  while (u != w) {
    const int du = depth_[static_cast<size_t>(u)];
    const int dw = depth_[static_cast<size_t>(w)];
    if (du >= dw) u = parent_[static_cast<size_t>(u)];
    if (dw >= du) w = parent_[static_cast<size_t>(w)];
  }
  const int join = u;
  // Leaving arc: the last blocking arc met going round the cycle from the
  // apex (join -> first, entering arc, second -> join), which keeps the tree
  // strongly feasible.
  int leaving = -1;
  bool leaving_on_first = false;
  for (int v = first; v != join; v = parent_[static_cast<size_t>(v)]) {
    const auto uv = static_cast<size_t>(v);
    const auto a = static_cast<size_t>(pred_[uv]);
    const double r = dir_[uv] == kDown ? cap_[a] - flow_[a] : flow_[a];
    if (r < delta) {
      delta = r;
      leaving = v;
      leaving_on_first = true;
    }
  }
  for (int v = second; v != join; v = parent_[static_cast<size_t>(v)]) {
    const auto uv = static_cast<size_t>(v);
    const auto a = static_cast<size_t>(pred_[uv]);
    const double r = dir_[uv] == kUp ? cap_[a] - flow_[a] : flow_[a];
    if (r <= delta) {
      delta = r;
      leaving = v;
      leaving_on_first = false;
    }
  }
  delta = std::max(0.0, delta);

  if (delta > 0) {
    flow_[e] += state_[e] == kLower ? delta : -delta;
    for (int v = first; v != join; v = parent_[static_cast<size_t>(v)]) {
      const auto uv = static_cast<size_t>(v);
      const auto a = static_cast<size_t>(pred_[uv]);
      flow_[a] = std::clamp(flow_[a] + (dir_[uv] == kDown ? delta : -delta), 0.0, cap_[a]);
    }
    for (int v = second; v != join; v = parent_[static_cast<size_t>(v)]) {
      const auto uv = static_cast<size_t>(v);
      const auto a = static_cast<size_t>(pred_[uv]);
      flow_[a] = std::clamp(flow_[a] + (dir_[uv] == kUp ? delta : -delta), 0.0, cap_[a]);
    }
  }

  if (leaving < 0) {
    // The entering arc blocks itself: it moves between its bounds.
    if (state_[e] == kLower) {
      state_[e] = kUpper;
      flow_[e] = cap_[e];
    } else {
      state_[e] = kLower;
      flow_[e] = 0;
    }
    return;
  }

  const auto ul = static_cast<size_t>(leaving);
  const auto la = static_cast<size_t>(pred_[ul]);
  const bool at_upper = leaving_on_first ? dir_[ul] == kDown : dir_[ul] == kUp;
  state_[la] = at_upper ? kUpper : kLower;
  flow_[la] = at_upper ? cap_[la] : 0.0;
  if (state_[e] == kLower) flow_[e] = std::min(flow_[e], cap_[e]);
  state_[e] = kTree;

  // Re-hang the subtree cut off below `leaving` from the entering arc,
  // reversing the path u_in .. leaving.
  const int u_in = leaving_on_first ? first : second;
  const int u_other = leaving_on_first ? second : first;
  int new_parent = u_other;
  int new_pred = entering;
  int8_t new_dir = source_[e] == u_in ? kUp : kDown;
  int v = u_in;
  for (;;) {
    const auto uv = static_cast<size_t>(v);
    const int old_parent = parent_[uv];
    const int old_pred = pred_[uv];
    const int8_t old_dir = dir_[uv];
    Detach(old_parent, v);
    parent_[uv] = new_parent;
    pred_[uv] = new_pred;
    dir_[uv] = new_dir;
    Attach(new_parent, v);
    if (v == leaving) break;
    new_parent = v;
    new_pred = old_pred;
    new_dir = static_cast<int8_t>(-old_dir);
    v = old_parent;
  }

  // Potentials of the moved subtree shift by one constant; depths change.
  const auto uin = static_cast<size_t>(u_in);
  const double arc_cost = cost_[e];
  const double new_pi = dir_[uin] == kUp ? pi_[static_cast<size_t>(u_other)] - arc_cost
                                         : pi_[static_cast<size_t>(u_other)] + arc_cost;
  const double shift = new_pi - pi_[uin];
  stack_.clear();
  stack_.push_back(u_in);
  while (!stack_.empty()) {
    const int x = stack_.back();
    stack_.pop_back();
    const auto ux = static_cast<size_t>(x);
    pi_[ux] += shift;
    depth_[ux] = depth_[static_cast<size_t>(parent_[ux])] + 1;
    for (int c = first_child_[ux]; c >= 0; c = next_sib_[static_cast<size_t>(c)]) {
      stack_.push_back(c);
    }
  }
}

}  // namespace vantage::optimizer
