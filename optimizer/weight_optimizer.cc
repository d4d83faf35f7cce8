#include "optimizer/weight_optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/status_macros.h"
#include "optimizer/candidate_cache.h"
#include "optimizer/glpk_model.h"
#include "optimizer/n1_headroom.h"
#include "optimizer/warm_flow_network.h"

namespace vantage::optimizer {

namespace {

using graph::PopId;
using graph::RegionId;

constexpr double kZeroWeight = 1e-9;                     // LP weights at or below this are zero
constexpr size_t kMaxRepairPops = 2048;                  // the repair keeps a pops x pops matrix
constexpr int64_t kRoundingRepairEvaluations = 1000000;  // rounding repair budget

// Per region, per candidate: LP weight; per pop overflow; the objective.
using FlowSolution = WarmFlowNetwork::Solution;

// Zero-demand regions: the LP does not care; keep the current weights when
// they are valid candidates, else the cheapest candidate.
void FillIdleRegions(const std::vector<RegionPlan>& plans, FlowSolution& sol) {
  for (size_t r = 0; r < plans.size(); ++r) {
    if (plans[r].solved_demand > 0) continue;
    auto& xs = sol.x[r];
    double covered = 0;
    for (const Candidate& c : plans[r].candidates) covered += c.current_weight;
    for (size_t k = 0; k < xs.size(); ++k) {
      xs[k] = covered >= 1.0 - 1e-9 ? plans[r].candidates[k].current_weight : (k == 0 ? 1.0 : 0.0);
    }
  }
}

// Current weights that the LP stays within one quantum of, when they lie on
// the quantum grid: kept exactly (rounding must not create churn of its own).
// Writes them to `*current` (overwritten either way) and returns true.
bool KeepCurrent(const std::vector<double>& x, const RegionPlan& plan, int64_t denominator,
                 std::vector<int64_t>* current) {
  const size_t n = x.size();
  const auto q = static_cast<double>(denominator);
  bool any_current = false;
  for (const Candidate& c : plan.candidates) any_current = any_current || c.current_weight > 0;
  if (!any_current) return false;
  current->assign(n, 0);
  int64_t total = 0;
  for (size_t k = 0; k < n; ++k) {
    const double cur = plan.candidates[k].current_weight * q;
    const double rounded = std::round(cur);
    (*current)[k] = static_cast<int64_t>(rounded);
    total += (*current)[k];
    if (!(std::fabs(cur - rounded) < 1e-6 && std::fabs(x[k] * q - cur) < 1.0 &&
          (x[k] <= kZeroWeight || (*current)[k] > 0))) {
      return false;
    }
  }
  return total == denominator;
}

struct Quantised {
  std::vector<std::vector<int64_t>> parts;  // per region, per candidate
};

// Flat copies of what the rounding passes read of every candidate, so that a
// pass does not walk every region's separately allocated candidate vector.
struct CandIndex {
  std::vector<size_t> begin;         // region r's candidates: [begin[r], begin[r + 1])
  std::vector<int32_t> pop;          // per candidate
  std::vector<double> cost;          // per candidate: cost_ms
  std::vector<uint8_t> has_current;  // per region: a candidate has current weight > 0
  std::vector<double> demand;        // per region: solved_demand

  explicit CandIndex(const std::vector<RegionPlan>& plans) {
    begin.reserve(plans.size() + 1);
    begin.push_back(0);
    has_current.assign(plans.size(), 0);
    demand.resize(plans.size());
    for (size_t r = 0; r < plans.size(); ++r) {
      for (const Candidate& c : plans[r].candidates) {
        pop.push_back(c.pop);
        cost.push_back(c.cost_ms);
        if (c.current_weight > 0) has_current[r] = 1;
      }
      begin.push_back(pop.size());
      demand[r] = plans[r].solved_demand;
    }
  }
  size_t pop_of(size_t r, size_t k) const { return static_cast<size_t>(pop[begin[r] + k]); }
  double cost_of(size_t r, size_t k) const { return cost[begin[r] + k]; }
};

std::vector<double> LoadsOf(const std::vector<RegionPlan>& plans,
                            const std::vector<std::vector<double>>& w, size_t pops,
                            bool solved_demand) {
  std::vector<double> load(pops, 0.0);
  for (size_t r = 0; r < plans.size(); ++r) {
    const double d = solved_demand ? plans[r].solved_demand : plans[r].demand;
    for (size_t k = 0; k < w[r].size(); ++k) {
      load[static_cast<size_t>(plans[r].candidates[k].pop)] += d * w[r][k];
    }
  }
  return load;
}

std::vector<std::vector<double>> WeightsOf(const Quantised& q, int64_t denominator) {
  std::vector<std::vector<double>> w(q.parts.size());
  for (size_t r = 0; r < q.parts.size(); ++r) {
    for (int64_t p : q.parts[r]) {
      w[r].push_back(static_cast<double>(p) / static_cast<double>(denominator));
    }
  }
  return w;
}

// LoadsOf(plans, WeightsOf(q, denominator), pops, true) without the copy.
std::vector<double> LoadsOfParts(const CandIndex& idx, const Quantised& q, size_t pops,
                                 int64_t denominator) {
  std::vector<double> load(pops, 0.0);
  const auto den = static_cast<double>(denominator);
  for (size_t r = 0; r < q.parts.size(); ++r) {
    const double d = idx.demand[r];
    const std::vector<int64_t>& parts = q.parts[r];
    for (size_t k = 0; k < parts.size(); ++k) {
      if (parts[k] != 0) load[idx.pop_of(r, k)] += d * (static_cast<double>(parts[k]) / den);
    }
  }
  return load;
}

// Capacity-aware largest-remainder quantisation of every region's LP weights
// into parts of `denominator`. Each region's parts sum to the denominator
// and a non-zero LP weight keeps at least one part (no surprise withdraw).
//  1. Every non-zero weight is rounded down (at least one part); regions
//     within a quantum of on-grid current weights keep them.
//  2. The parts still missing go, over all regions at once in order of
//     largest remainder, to the weight that lost most by rounding down, but
//     only while the PoP stays within limit = max(ceiling, LP load): rounding
//     never takes a PoP over its ceiling that the LP kept within it.
//  3. A part that fits nowhere by that rule goes to the region's candidate
//     with the most room left (the least overshoot if none has room).
// Rounding down only lowers loads, so the result is over a PoP's limit only
// when step 3 found no room (the caller then reserves capacity and
// re-solves).
// `lp_load` = LoadsOf(plans, sol.x, pops, true); `*dest` is overwritten
// (its storage reused).
void QuantiseInto(const std::vector<RegionPlan>& plans, const CandIndex& idx,
                  const FlowSolution& sol, const std::vector<double>& ceiling, int64_t denominator,
                  bool capacity_aware, const std::vector<double>& lp_load, Quantised* dest,
                  Quantised* scratch = nullptr) {
  Quantised& q = *dest;
  q.parts.resize(plans.size());
  const size_t pops = ceiling.size();
  std::vector<double> limit(pops);
  double scale = 1.0;
  for (size_t p = 0; p < pops; ++p) {
    limit[p] = std::max(ceiling[p], lp_load[p]);
    scale = std::max(scale, limit[p]);
  }
  const double tol = 1e-9 * scale;
  const auto den = static_cast<double>(denominator);
  std::vector<double> load(pops, 0.0);
  struct Up {
    double remainder;
    size_t r;
    size_t k;
  };
  std::vector<Up> ups;
  std::vector<int64_t> need(plans.size(), 0);
  std::vector<double> remainder;
  std::vector<size_t> local;
  for (size_t r = 0; r < plans.size(); ++r) {
    const std::vector<double>& x = sol.x[r];
    const RegionPlan& plan = plans[r];
    std::vector<int64_t>& parts = q.parts[r];
    if (idx.has_current[r] == 0 || !KeepCurrent(x, plan, denominator, &parts)) {
      parts.assign(x.size(), 0);
      remainder.assign(x.size(), 0.0);
      int64_t sum = 0;
      for (size_t k = 0; k < x.size(); ++k) {
        if (x[k] <= kZeroWeight) continue;
        const double raw = x[k] * den;
        parts[k] = std::max<int64_t>(static_cast<int64_t>(std::floor(raw + 1e-6)), 1);
        remainder[k] = raw - static_cast<double>(parts[k]);
        sum += parts[k];
      }
      // Many tiny weights forced up to one part: take back from the weights
      // rounded up most (keeping one part each).
      for (int64_t guard = 0; sum > denominator && guard < denominator; ++guard) {
        size_t from = x.size();
        for (size_t k = 0; k < x.size(); ++k) {
          if (parts[k] > 1 && (from == x.size() || remainder[k] < remainder[from])) from = k;
        }
        if (from == x.size()) break;
        --parts[from];
        remainder[from] += 1.0;
        --sum;
      }
      need[r] = std::max<int64_t>(0, denominator - sum);
      if (need[r] > 0 && !capacity_aware) {
        // Plain largest remainder needs no global order: each region takes
        // its own need[r] largest remainders (ties to the cheaper
        // candidate), exactly what the global pass below would give it.
        local.clear();
        for (size_t k = 0; k < x.size(); ++k) {
          if (parts[k] > 0) local.push_back(k);
        }
        std::stable_sort(local.begin(), local.end(),
                         [&](size_t a, size_t b) { return remainder[a] > remainder[b]; });
        for (size_t i = 0; i < local.size() && need[r] > 0; ++i, --need[r]) ++parts[local[i]];
      } else if (need[r] > 0) {
        for (size_t k = 0; k < x.size(); ++k) {
          if (parts[k] > 0) ups.push_back({remainder[k], r, k});
        }
      }
    }
    for (size_t k = 0; k < parts.size(); ++k) {
      // A zero part adds +0.0: skipping it leaves the sum's bits alone.
      if (parts[k] != 0) {
        load[idx.pop_of(r, k)] += idx.demand[r] * static_cast<double>(parts[k]) / den;
      }
    }
  }
  // Step 2: largest remainder first; ties to the lower region, then the
  // cheaper candidate (candidates are sorted by cost).
  std::stable_sort(ups.begin(), ups.end(),
                   [](const Up& a, const Up& b) { return a.remainder > b.remainder; });
  // Moves single parts that rounding added away from PoPs over their limit
  // to PoPs the region already uses that have room.
  const double unit = 1.0 / static_cast<double>(denominator);
  auto fix_up = [&](Quantised& out, std::vector<double>& out_load) {
    bool any_over = false;
    for (size_t p = 0; p < pops && !any_over; ++p) any_over = out_load[p] > limit[p] + tol;
    if (!any_over) return;
    // Only regions split over several PoPs can have been rounded up: their
    // candidates, per pop, in region order (pop_begin: offsets into on_pop).
    std::vector<size_t> pop_begin(pops + 1, 0);
    std::vector<std::pair<size_t, size_t>> on_pop;
    {
      std::vector<size_t> split;
      for (size_t r = 0; r < plans.size(); ++r) {
        int used = 0;
        for (int64_t parts : out.parts[r]) used += parts > 0 ? 1 : 0;
        if (used >= 2 && idx.demand[r] > 0) split.push_back(r);
      }
      for (size_t r : split) {
        for (size_t i = idx.begin[r]; i < idx.begin[r + 1]; ++i) {
          ++pop_begin[static_cast<size_t>(idx.pop[i]) + 1];
        }
      }
      for (size_t p = 0; p < pops; ++p) pop_begin[p + 1] += pop_begin[p];
      on_pop.resize(pop_begin[pops]);
      std::vector<size_t> fill(pop_begin.begin(), pop_begin.end() - 1);
      for (size_t r : split) {
        for (size_t k = 0; k < idx.begin[r + 1] - idx.begin[r]; ++k) {
          on_pop[fill[idx.pop_of(r, k)]++] = {r, k};
        }
      }
    }
    for (size_t p = 0; p < pops; ++p) {
      if (out_load[p] <= limit[p] + tol) continue;
      for (size_t i = pop_begin[p]; i < pop_begin[p + 1] && out_load[p] > limit[p] + tol; ++i) {
        const auto [r, k_on_p] = on_pop[i];
        const RegionPlan& plan = plans[r];
        const double d = plan.solved_demand;
        {
          const size_t k = k_on_p;
          // Only take back what rounding added, and never the last part.
          while (out_load[p] > limit[p] + tol && out.parts[r][k] > 1 &&
                 static_cast<double>(out.parts[r][k]) * unit > sol.x[r][k] + 1e-12) {
            size_t to = plan.candidates.size();
            for (size_t j = 0; j < plan.candidates.size(); ++j) {
              const auto pj = static_cast<size_t>(plan.candidates[j].pop);
              if (j != k && out.parts[r][j] > 0 && out_load[pj] + d * unit <= limit[pj] + tol) {
                to = j;
                break;
              }
            }
            if (to == plan.candidates.size()) break;
            --out.parts[r][k];
            ++out.parts[r][to];
            out_load[p] -= d * unit;
            out_load[static_cast<size_t>(plan.candidates[to].pop)] += d * unit;
          }
        }
      }
    }
  };
  {
    // Plain largest remainder per region first (then the fix-up): when that
    // keeps every PoP within its limit it is the answer; the capacity check
    // below only steps in where it would overshoot, so inputs that rounded
    // fine before round exactly as before (stability).
    // Without the capacity-aware fallback, work on q itself (no copies).
    Quantised local_copy;
    Quantised& plain_copy = scratch != nullptr ? *scratch : local_copy;
    std::vector<int64_t> need_copy;
    std::vector<double> load_copy;
    if (capacity_aware) {
      plain_copy = q;
      need_copy = need;
      load_copy = load;
    }
    Quantised& plain = capacity_aware ? plain_copy : q;
    std::vector<int64_t>& plain_need = capacity_aware ? need_copy : need;
    std::vector<double>& plain_load = capacity_aware ? load_copy : load;
    for (const Up& u : ups) {
      if (plain_need[u.r] == 0) continue;
      ++plain.parts[u.r][u.k];
      --plain_need[u.r];
      plain_load[static_cast<size_t>(plans[u.r].candidates[u.k].pop)] +=
          plans[u.r].solved_demand / den;
    }
    fix_up(plain, plain_load);
    bool fits = true;
    for (size_t r = 0; r < plans.size() && fits; ++r) fits = plain_need[r] == 0;
    for (size_t p = 0; p < pops && fits; ++p) fits = plain_load[p] <= limit[p] + tol;
    if (!capacity_aware) return;
    if (fits) {
      std::swap(q.parts, plain_copy.parts);  // the scratch keeps the other storage
      return;
    }
  }
  for (int round = 0; round < 2; ++round) {
    // A region may need more parts than it has rounded-down weights only in
    // the second round (after tiny weights took parts back).
    for (const Up& u : ups) {
      if (need[u.r] == 0) continue;
      const RegionPlan& plan = plans[u.r];
      const auto p = static_cast<size_t>(plan.candidates[u.k].pop);
      const double part = plan.solved_demand / den;
      if (load[p] + part > limit[p] + tol) continue;
      ++q.parts[u.r][u.k];
      --need[u.r];
      load[p] += part;
    }
  }
  // Step 3: the rest, where there is most room.
  for (size_t r = 0; r < plans.size(); ++r) {
    const RegionPlan& plan = plans[r];
    const double part = plan.solved_demand / den;
    for (; need[r] > 0; --need[r]) {
      size_t best = 0;
      double best_room = -std::numeric_limits<double>::infinity();
      for (size_t k = 0; k < plan.candidates.size(); ++k) {
        const auto p = static_cast<size_t>(plan.candidates[k].pop);
        // Prefer weights the LP uses: a new PoP only with real room.
        const double room = limit[p] - load[p] - part - (q.parts[r][k] > 0 ? 0.0 : tol);
        if (room > best_room) {
          best_room = room;
          best = k;
        }
      }
      ++q.parts[r][best];
      load[static_cast<size_t>(plan.candidates[best].pop)] += part;
    }
  }
  fix_up(q, load);
}

Quantised Quantise(const std::vector<RegionPlan>& plans, const FlowSolution& sol,
                   const std::vector<double>& ceiling, int64_t denominator) {
  Quantised q;
  QuantiseInto(plans, CandIndex(plans), sol, ceiling, denominator, true,
               LoadsOf(plans, sol.x, ceiling.size(), true), &q);
  return q;
}

// Rounding repair: after quantisation, moves parts within regions away from
// PoPs still over their limit (max(ceiling, LP load)), never withdrawing a
// PoP the LP uses (a weight > kZeroWeight keeps one part). Moves, best total
// overshoot reduction first:
//  - one part of a region from the overloaded PoP p to another candidate q;
//  - a chain: that part to q, and one part of another region from q to a
//    candidate s (s may be p when that region is smaller), which shifts
//    finer amounts than a single part when no PoP has room for one.
// Every move strictly lowers sum_p max(0, load_p - limit_p); deterministic
// (PoPs worst first, regions in plan order); bounded by `max_evaluations`.
// Returns the overshoot left.
double RepairRounding(const CandIndex& idx, const std::vector<std::vector<double>>& x,
                      const std::vector<double>& limit, int64_t denominator, double tol,
                      int64_t max_evaluations, Quantised& q, int* moves) {
  const size_t pops = limit.size();
  const auto den = static_cast<double>(denominator);
  std::vector<double> load = LoadsOfParts(idx, q, pops, denominator);
  auto over_at = [&](size_t p, double l) { return std::max(0.0, l - limit[p] - tol); };
  double total = 0;
  for (size_t p = 0; p < pops; ++p) total += over_at(p, load[p]);
  if (total <= 0) return 0;
  // users[p]: (region, candidate) pairs that may hold parts on p. The
  // search works on flat copies of the parts (and of which weights the LP
  // uses), indexed like idx.pop; they go back to q at the end.
  std::vector<std::vector<std::pair<size_t, size_t>>> users(pops);
  std::vector<int64_t> parts(idx.pop.size());
  std::vector<int8_t> keep_one(idx.pop.size());
  for (size_t r = 0; r < q.parts.size(); ++r) {
    for (size_t k = 0; k < q.parts[r].size(); ++k) {
      parts[idx.begin[r] + k] = q.parts[r][k];
      keep_one[idx.begin[r] + k] = x[r][k] > kZeroWeight ? 1 : 0;
      if (q.parts[r][k] > 0) users[idx.pop_of(r, k)].emplace_back(r, k);
    }
  }
  auto movable = [&](size_t r, size_t k) {
    const size_t i = idx.begin[r] + k;
    return parts[i] > keep_one[i] && idx.demand[r] > 0;
  };
  struct Step {
    size_t r = 0, from = 0, to = 0;
  };
  struct Delta {
    size_t pop;
    double change;
  };
  // Total overshoot change if `deltas` (up to three, pops may repeat) apply.
  auto gain_of = [&](const Delta* deltas, size_t n) {
    double gain = 0;
    for (size_t i = 0; i < n; ++i) {
      bool seen = false;
      for (size_t j = 0; j < i; ++j) seen = seen || deltas[j].pop == deltas[i].pop;
      if (seen) continue;
      double change = 0;
      for (size_t j = i; j < n; ++j) {
        if (deltas[j].pop == deltas[i].pop) change += deltas[j].change;
      }
      const size_t p = deltas[i].pop;
      gain += over_at(p, load[p]) - over_at(p, load[p] + change);
    }
    return gain;
  };
  int64_t evaluations = 0;
  *moves = 0;
  while (total > 0 && evaluations < max_evaluations) {
    std::vector<std::pair<double, size_t>> over;
    for (size_t p = 0; p < pops; ++p) {
      const double o = over_at(p, load[p]);
      if (o > 0) over.emplace_back(-o, p);
    }
    std::sort(over.begin(), over.end());
    // Gains within `eps` are ties (broken by cost, then by search order): the
    // choice must not hang on last-bit differences of the LP loads, so that a
    // warm re-solve rounds exactly as a cold one.
    const double eps = 1e-9 * std::max(1.0, total);
    double best_gain = eps;
    double best_cost = 0;
    std::vector<Step> best;
    // Single parts first (cheap); chains only when no single part helps.
    for (int chains = 0; chains < 2 && best.empty(); ++chains) {
      for (const auto& [neg, p] : over) {
        for (const auto& [r, k] : users[p]) {
          if (!movable(r, k)) continue;
          const double u = idx.demand[r] / den;
          const size_t n = idx.begin[r + 1] - idx.begin[r];
          double leave = 0;
          if (chains == 0) {
            // Every single move of this part gains at most what leaving p
            // gains (the target's overshoot can only grow, and the sum in
            // gain_of() rounds monotonically): when that cannot reach the
            // best gain found so far, no j can be taken; skip them (counted
            // as evaluated, so the budget runs out exactly as without it).
            leave = over_at(p, load[p]) - over_at(p, load[p] + (-u));
            if (leave < best_gain - eps) {
              evaluations += static_cast<int64_t>(n) - 1;
              if (evaluations >= max_evaluations) break;
              continue;
            }
          }
          for (size_t j = 0; j < n; ++j) {
            if (j == k) continue;
            const size_t qp = idx.pop_of(r, j);
            ++evaluations;
            if (chains == 0) {
              // gain_of({{p, -u}, {qp, u}}) (qp != p: a region's candidates
              // are distinct PoPs), summed in the same order: 0 + leave is
              // leave exactly, then the target's part.
              const double cost = u * (idx.cost_of(r, j) - idx.cost_of(r, k));
              const double g = leave + (over_at(qp, load[qp]) - over_at(qp, load[qp] + u));
              if (g > best_gain + eps ||
                  (g >= best_gain - eps && !best.empty() && cost < best_cost - 1e-12)) {
                best_gain = g;
                best_cost = cost;
                best = {{r, k, j}};
              }
              continue;
            }
            if (load[qp] + u <= limit[qp] + tol) continue;  // room: no chain needed
            // Chain: another region moves a part on from q.
            for (const auto& [r2, k2] : users[qp]) {
              if (r2 == r || !movable(r2, k2)) continue;
              const double u2 = idx.demand[r2] / den;
              const size_t n2 = idx.begin[r2 + 1] - idx.begin[r2];
              for (size_t j2 = 0; j2 < n2; ++j2) {
                if (j2 == k2) continue;
                const size_t sp = idx.pop_of(r2, j2);
                ++evaluations;
                const Delta chain[] = {{p, -u}, {qp, u - u2}, {sp, u2}};
                const double g2 = gain_of(chain, 3);
                if (g2 > best_gain + eps) {
                  best_gain = g2;
                  best = {{r, k, j}, {r2, k2, j2}};
                }
              }
              if (evaluations >= max_evaluations) break;
            }
          }
          if (evaluations >= max_evaluations) break;
        }
        if (!best.empty() || evaluations >= max_evaluations) break;  // worst PoP first
      }
    }
    if (best.empty()) break;
    for (const Step& st : best) {
      const double u = idx.demand[st.r] / den;
      --parts[idx.begin[st.r] + st.from];
      if (parts[idx.begin[st.r] + st.to]++ == 0) {
        users[idx.pop_of(st.r, st.to)].emplace_back(st.r, st.to);
      }
      load[idx.pop_of(st.r, st.from)] -= u;
      load[idx.pop_of(st.r, st.to)] += u;
    }
    ++*moves;
    total = 0;
    for (size_t p = 0; p < pops; ++p) total += over_at(p, load[p]);
  }
  for (size_t r = 0; r < q.parts.size(); ++r) {
    for (size_t k = 0; k < q.parts[r].size(); ++k) q.parts[r][k] = parts[idx.begin[r] + k];
  }
  return total;
}

struct N1Check {
  std::vector<N1Violation> violations;
  std::vector<double> worst;  // per pop: worst post-failure load
  double excess = 0;
  int stranded_regions = 0;  // single-candidate regions whose PoP could fail
};

// Post-failure loads for one failed pop, accumulated into `extra`.
void SpreadFailure(const std::vector<RegionPlan>& plans, const std::vector<std::vector<double>>& w,
                   const std::vector<std::pair<size_t, size_t>>& users, bool solved_demand,
                   std::vector<double>& extra, std::vector<size_t>& touched, int* stranded) {
  for (const auto& [r, k] : users) {
    const RegionPlan& plan = plans[r];
    const double d = solved_demand ? plan.solved_demand : plan.demand;
    const double moved = d * w[r][k];
    double rest = 0;
    for (size_t j = 0; j < w[r].size(); ++j) {
      if (j != k) rest += w[r][j];
    }
    if (rest > 0) {
      for (size_t j = 0; j < w[r].size(); ++j) {
        if (j == k || w[r][j] <= 0) continue;
        const auto p = static_cast<size_t>(plan.candidates[j].pop);
        if (extra[p] == 0) touched.push_back(p);
        extra[p] += moved * w[r][j] / rest;
      }
    } else {
      size_t fb = plan.candidates.size();
      for (size_t j = 0; j < plan.candidates.size(); ++j) {
        if (j != k) {
          fb = j;
          break;
        }
      }
      if (fb == plan.candidates.size()) {
        if (stranded != nullptr) ++*stranded;
        continue;
      }
      const auto p = static_cast<size_t>(plan.candidates[fb].pop);
      if (extra[p] == 0) touched.push_back(p);
      extra[p] += moved;
    }
  }
}

N1Check CheckN1(const std::vector<RegionPlan>& plans, const std::vector<std::vector<double>>& w,
                const std::vector<double>& ceiling, bool solved_demand) {
  const size_t pops = ceiling.size();
  N1Check check;
  const std::vector<double> base = LoadsOf(plans, w, pops, solved_demand);
  check.worst = base;
  std::vector<std::vector<std::pair<size_t, size_t>>> users(pops);
  for (size_t r = 0; r < plans.size(); ++r) {
    for (size_t k = 0; k < w[r].size(); ++k) {
      if (w[r][k] > 0) users[static_cast<size_t>(plans[r].candidates[k].pop)].emplace_back(r, k);
    }
  }
  std::vector<double> extra(pops, 0.0);
  std::vector<size_t> touched;
  for (size_t f = 0; f < pops; ++f) {
    if (users[f].empty()) continue;
    touched.clear();
    SpreadFailure(plans, w, users[f], solved_demand, extra, touched, &check.stranded_regions);
    std::sort(touched.begin(), touched.end());
    for (size_t p : touched) {
      const double post = base[p] + extra[p];
      check.worst[p] = std::max(check.worst[p], post);
      if (post > ceiling[p] * (1 + 1e-9) + 1e-9) {
        check.violations.push_back(
            {static_cast<PopId>(f), static_cast<PopId>(p), post, ceiling[p]});
        check.excess += post - ceiling[p];
      }
      extra[p] = 0;
    }
  }
  return check;
}

// N-1 repair: a deterministic local search on the quantised weights, driven
// by the exact post-failure loads. post(f, p) = L_p + E[f][p], where E[f][p]
// is what p receives when f fails (SpreadFailure's rule); the search lowers
//   excess = sum_p max(0, L_p + max(0, max_f E[f][p]) - ceiling_p)
// by moving parts, within a region, away from the worst (failed, overloaded)
// pair's PoPs to the region's other candidates. Only strictly improving moves
// are made, so it never makes N-1 or plain overload worse.
class N1Repair {
 public:
  N1Repair(const std::vector<RegionPlan>& plans, const std::vector<double>& ceiling,
           int64_t denominator)
      : plans_(plans),
        ceiling_(ceiling),
        pops_(ceiling.size()),
        den_(static_cast<double>(denominator)),
        base_(pops_, 0.0),
        extra_(pops_ * pops_, 0.0),
        worst_extra_(pops_, 0.0),
        users_(pops_) {}

  // Returns the number of moves made.
  int Run(Quantised& q, const std::vector<std::vector<double>>& lp, int max_moves,
          int64_t max_evaluations, int64_t* evaluations) {
    for (size_t r = 0; r < plans_.size(); ++r) {
      Contribute(r, q.parts[r], +1.0);
      for (size_t k = 0; k < q.parts[r].size(); ++k) {
        if (q.parts[r][k] > 0) users_[Pop(r, k)].push_back(r);
      }
    }
    for (size_t p = 0; p < pops_; ++p) worst_extra_[p] = ColumnMax(p);
    int moves = 0;
    for (; moves < max_moves && *evaluations < max_evaluations; ++moves) {
      // Overloaded PoPs, worst first; the first with an improving move wins.
      std::vector<std::pair<double, size_t>> over;
      for (size_t p = 0; p < pops_; ++p) {
        const double ex = base_[p] + worst_extra_[p] - ceiling_[p] * (1 + 1e-9);
        if (ex > 1e-9) over.emplace_back(-ex, p);
      }
      if (over.empty()) break;
      std::sort(over.begin(), over.end());
      if (over.size() > kPopsPerStep) over.resize(kPopsPerStep);
      size_t best_r = 0;
      std::vector<int64_t> best_parts;
      for (const auto& [neg_ex, p_star] : over) {
        FindMove(q, lp, p_star, evaluations, &best_r, &best_parts);
        if (!best_parts.empty()) break;
      }
      if (best_parts.empty()) break;
      Apply(best_r, q.parts[best_r], best_parts);
      moved_regions_.push_back(best_r);
    }
    return moves;
  }

  const std::vector<size_t>& moved_regions() const { return moved_regions_; }

 private:
  static constexpr size_t kRegionsPerStep = 6;
  static constexpr size_t kPopsPerStep = 8;

  // The best strictly improving move for overloaded `p_star`: parts of a
  // region that loads it, taken from it or from the failure that hurts it
  // most, to another candidate of the region.
  void FindMove(const Quantised& q, const std::vector<std::vector<double>>& lp, size_t p_star,
                int64_t* evaluations, size_t* best_r, std::vector<int64_t>* best_parts) {
    size_t f_star = pops_;
    double f_best = 0;
    for (size_t f = 0; f < pops_; ++f) {
      if (extra_[f * pops_ + p_star] > f_best) {
        f_best = extra_[f * pops_ + p_star];
        f_star = f;
      }
    }
    std::vector<std::pair<double, size_t>> ranked;
    for (size_t r : users_[p_star]) {
      const auto& parts = q.parts[r];
      double share = 0;
      double fw = 0;
      for (size_t k = 0; k < parts.size(); ++k) {
        if (Pop(r, k) == p_star) share = static_cast<double>(parts[k]) / den_;
        if (Pop(r, k) == f_star) fw = static_cast<double>(parts[k]) / den_;
      }
      if (share <= 0) continue;
      const double load = plans_[r].solved_demand * share / (fw < 1 ? 1 - fw : 1);
      ranked.emplace_back(-load, r);
    }
    std::sort(ranked.begin(), ranked.end());
    // Drop duplicates (users_ may list a region twice).
    ranked.erase(std::unique(ranked.begin(), ranked.end()), ranked.end());
    if (ranked.size() > kRegionsPerStep) ranked.resize(kRegionsPerStep);
    double best_gain = 1e-9 * std::max(1.0, ceiling_[p_star]);
    double best_cost = 0;
    for (const auto& [neg_load, r] : ranked) {
      const auto& parts = q.parts[r];
      for (size_t a = 0; a < parts.size(); ++a) {
        if (parts[a] == 0) continue;
        // Never withdraw a PoP the LP uses (no surprise withdraw).
        const int64_t movable = lp[r][a] > kZeroWeight ? parts[a] - 1 : parts[a];
        for (size_t b = 0; b < parts.size(); ++b) {
          if (b == a) continue;
          for (int64_t step = movable; step >= 1 && step * 64 >= movable; step /= 2) {
            std::vector<int64_t> moved = parts;
            moved[a] -= step;
            moved[b] += step;
            ++*evaluations;
            const double gain = Gain(r, parts, moved);
            const double dcost =
                plans_[r].solved_demand * static_cast<double>(step) / den_ *
                (plans_[r].candidates[b].cost_ms - plans_[r].candidates[a].cost_ms);
            if (gain > best_gain + 1e-12 ||
                (gain > best_gain - 1e-12 && !best_parts->empty() && dcost < best_cost)) {
              best_gain = gain;
              best_cost = dcost;
              *best_r = r;
              *best_parts = moved;
            }
          }
        }
      }
    }
  }

  size_t Pop(size_t r, size_t k) const { return static_cast<size_t>(plans_[r].candidates[k].pop); }

  // Adds sign * region r's contribution with `parts` to base_ and extra_.
  void Contribute(size_t r, const std::vector<int64_t>& parts, double sign) {
    const RegionPlan& plan = plans_[r];
    const double d = plan.solved_demand * sign;
    double total = 0;
    for (int64_t p : parts) total += static_cast<double>(p);
    for (size_t k = 0; k < parts.size(); ++k) {
      if (parts[k] == 0) continue;
      const double w = static_cast<double>(parts[k]) / den_;
      base_[Pop(r, k)] += d * w;
      const double rest = (total - static_cast<double>(parts[k])) / den_;
      const size_t f = Pop(r, k);
      if (rest > 0) {
        for (size_t j = 0; j < parts.size(); ++j) {
          if (j == k || parts[j] == 0) continue;
          extra_[f * pops_ + Pop(r, j)] += d * w * (static_cast<double>(parts[j]) / den_) / rest;
        }
      } else if (parts.size() > 1) {
        const size_t fb = k == 0 ? 1 : 0;  // cheapest other candidate
        extra_[f * pops_ + Pop(r, fb)] += d * w;
      }
    }
  }

  double ColumnMax(size_t p) const {
    double m = 0;
    for (size_t f = 0; f < pops_; ++f) m = std::max(m, extra_[f * pops_ + p]);
    return m;
  }

  double Excess(size_t p, double worst_extra) const {
    return std::max(0.0, base_[p] + worst_extra - ceiling_[p] * (1 + 1e-9));
  }

  // Excess reduction if region r's parts change from `from` to `to`.
  double Gain(size_t r, const std::vector<int64_t>& from, const std::vector<int64_t>& to) {
    double before = 0;
    for (size_t k = 0; k < from.size(); ++k) before += Excess(Pop(r, k), worst_extra_[Pop(r, k)]);
    Contribute(r, from, -1.0);
    Contribute(r, to, +1.0);
    double after = 0;
    bool new_overload = false;
    for (size_t k = 0; k < from.size(); ++k) {
      after += Excess(Pop(r, k), ColumnMax(Pop(r, k)));
      // Normal operation comes first: no PoP may go (further) over its
      // ceiling without a failure.
      new_overload =
          new_overload || (to[k] > from[k] && base_[Pop(r, k)] > ceiling_[Pop(r, k)] * (1 + 1e-9));
    }
    Contribute(r, to, -1.0);
    Contribute(r, from, +1.0);
    return new_overload ? -1.0 : before - after;
  }

  void Apply(size_t r, std::vector<int64_t>& parts, const std::vector<int64_t>& to) {
    Contribute(r, parts, -1.0);
    Contribute(r, to, +1.0);
    for (size_t k = 0; k < to.size(); ++k) {
      if (parts[k] == 0 && to[k] > 0) users_[Pop(r, k)].push_back(r);
    }
    parts = to;
    for (size_t k = 0; k < parts.size(); ++k) worst_extra_[Pop(r, k)] = ColumnMax(Pop(r, k));
  }

  const std::vector<RegionPlan>& plans_;
  const std::vector<double>& ceiling_;
  size_t pops_;
  double den_;
  std::vector<double> base_;
  std::vector<double> extra_;  // [failed * pops + receiving]
  std::vector<double> worst_extra_;
  std::vector<std::vector<size_t>> users_;  // may hold regions that left
  std::vector<size_t> moved_regions_;
};

// The LP objective of weight_optimizer.h for weights `x` (per region, per
// candidate) and usable capacities `usable`.
double LpObjectiveOf(const std::vector<RegionPlan>& plans,
                     const std::vector<std::vector<double>>& x, const std::vector<double>& usable,
                     const OptimizerConfig& cfg) {
  double obj = 0;
  std::vector<double> load(usable.size(), 0.0);
  for (size_t r = 0; r < plans.size(); ++r) {
    const double d = plans[r].solved_demand;
    for (size_t k = 0; k < x[r].size(); ++k) {
      const Candidate& c = plans[r].candidates[k];
      const double f = d * x[r][k];
      obj += c.cost_ms * f - cfg.stability_cost_ms * std::min(f, d * c.current_weight);
      load[static_cast<size_t>(c.pop)] += f;
    }
  }
  for (size_t p = 0; p < usable.size(); ++p) {
    obj += cfg.overload_penalty_ms * std::max(0.0, load[p] - usable[p]);
  }
  return obj;
}

// Normal-operation overload (above the ceilings) of weights `w`.
double PlainOverload(const std::vector<RegionPlan>& plans,
                     const std::vector<std::vector<double>>& w,
                     const std::vector<double>& ceiling) {
  const std::vector<double> load = LoadsOf(plans, w, ceiling.size(), true);
  double over = 0;
  for (size_t p = 0; p < ceiling.size(); ++p) {
    over += std::max(0.0, load[p] - ceiling[p] * (1 + 1e-9) - 1e-9);
  }
  return over;
}

struct N1SlpOutcome {
  bool ran = false;
  bool improved = false;
  int iterations = 0;
  int scenarios = 0;    // (failed, overloaded) pairs with a constraint row
  std::string skipped;  // why it did not run
};

// N-1 by sequential linear programming with cut generation. The exact
// requirement, for every failed PoP f and every other PoP p,
//   post_f(p) = sum_r D_r w_rp / (1 - w_rf) <= ceiling_p          (1)
// (a region single-homed on f sends all of D_r to its fallback PoP), is not
// convex. Starting from the plain LP optimum, every (f, p) pair that the
// exact simulation finds violated gets a constraint row: (1) linearised
// (first-order) at the current point, with an elastic excess column priced
// at overload_penalty_ms / 2 (so the LP stays feasible and minimises the
// linearised excess when (1) cannot be met). All rows are re-linearised at
// each new point and the LP (GLPK, warm-started dual simplex) re-solved;
// the new point is quantised and accepted if the simulated merit (1e6 x
// normal overload + N-1 excess) falls, else a half step is tried. It stops
// when the simulation finds no violation (verified, not assumed), after
// n1_max_iterations, or when no step improves.
absl::StatusOr<N1SlpOutcome> RefineN1Linearised(const std::vector<RegionPlan>& plans,
                                                const std::vector<double>& ceiling,
                                                const std::vector<double>& usable,
                                                const OptimizerConfig& cfg, FlowSolution& best,
                                                Quantised& best_q) {
  N1SlpOutcome out;
  const size_t pops = ceiling.size();
  const double s = cfg.stability_cost_ms;
  const double delta = cfg.max_weight_change;
  size_t arcs = 0;
  for (const RegionPlan& plan : plans) arcs += 2 * plan.candidates.size();
  if (arcs > static_cast<size_t>(cfg.n1_lp_max_columns)) {
    out.skipped = absl::StrFormat("N-1 linear program skipped: %d columns > n1_lp_max_columns %d",
                                  arcs, cfg.n1_lp_max_columns);
    return out;
  }
  out.ran = true;
  GlpkModel lp;
  // Columns per region, per candidate: [keep or -1, extra].
  std::vector<std::vector<std::pair<int, int>>> cols(plans.size());
  std::vector<std::vector<std::pair<size_t, size_t>>> on_pop(pops);  // (r, k) with pop candidate
  std::vector<int> idx;
  std::vector<double> coef;
  for (size_t r = 0; r < plans.size(); ++r) {
    const RegionPlan& plan = plans[r];
    const double d = plan.solved_demand;
    if (d <= 0) continue;
    double covered = 0;
    for (const Candidate& c : plan.candidates) covered += c.current_weight;
    const bool constrained = delta < 1.0 && !best.relaxed[r] && covered >= 1.0 - 1e-9;
    idx.clear();
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      const Candidate& c = plan.candidates[k];
      on_pop[static_cast<size_t>(c.pop)].emplace_back(r, k);
      int keep = -1;
      const double keep_cap = d * c.current_weight;
      if (c.current_weight > 0 && (s > 0 || constrained)) {
        const double lo = constrained ? d * std::max(0.0, c.current_weight - delta) : 0.0;
        keep = lp.AddColumn(lo, keep_cap, c.cost_ms - s);
        idx.push_back(keep);
      }
      double extra_cap = GlpkModel::kInfinity;
      if (constrained) {
        const double upper = d * std::min(1.0, c.current_weight + delta);
        extra_cap = std::max(0.0, upper - (keep >= 0 ? keep_cap : 0.0));
      }
      const int extra = lp.AddColumn(0.0, extra_cap, c.cost_ms);
      idx.push_back(extra);
      cols[r].emplace_back(keep, extra);
    }
    lp.AddRow(idx, std::vector<double>(idx.size(), 1.0), d, d);
  }
  for (size_t p = 0; p < pops; ++p) {
    idx.clear();
    for (const auto& [r, k] : on_pop[p]) {
      if (cols[r].empty()) continue;
      if (cols[r][k].first >= 0) idx.push_back(cols[r][k].first);
      idx.push_back(cols[r][k].second);
    }
    idx.push_back(lp.AddColumn(0.0, GlpkModel::kInfinity, cfg.overload_penalty_ms));
    coef.assign(idx.size(), 1.0);
    coef.back() = -1.0;
    lp.AddRow(idx, coef, -GlpkModel::kInfinity, usable[p]);
  }

  // Rounding can add up to a quantum of every split region on a PoP; after a
  // failure that is amplified, so the rows keep this margin (grown when the
  // quantised point still violates where the continuous one does not).
  const double unit = 1.0 / static_cast<double>(cfg.weight_denominator);
  std::vector<double> margin(pops, 0.0);
  for (size_t r = 0; r < plans.size(); ++r) {
    for (size_t k = 0; k < plans[r].candidates.size(); ++k) {
      margin[static_cast<size_t>(plans[r].candidates[k].pop)] += plans[r].solved_demand * unit;
    }
  }
  constexpr double kMaxShare = 0.95;  // linearisation point cap: 1 / (1 - w) <= 20
  constexpr int kMaxStale = 2;        // then the conservative stage takes over
  auto add_term = [&](size_t r, size_t k, double c) {
    if (cols[r][k].first >= 0) {
      idx.push_back(cols[r][k].first);
      coef.push_back(c);
    }
    idx.push_back(cols[r][k].second);
    coef.push_back(c);
  };
  // Row (f, p) linearised at weights w; returns the right-hand side.
  auto linearise = [&](size_t f, size_t p, const std::vector<std::vector<double>>& w) {
    idx.clear();
    coef.clear();
    double rhs = ceiling[p] - margin[p];
    for (const auto& [r, kp] : on_pop[p]) {
      if (cols[r].empty()) continue;
      const RegionPlan& plan = plans[r];
      const double d = plan.solved_demand;
      size_t kf = plan.candidates.size();
      for (size_t k = 0; k < plan.candidates.size(); ++k) {
        if (static_cast<size_t>(plan.candidates[k].pop) == f) kf = k;
      }
      if (kf == plan.candidates.size()) {
        add_term(r, kp, 1.0);
        continue;
      }
      const double w0f = std::min(w[r][kf], kMaxShare);
      const double a = 1.0 / (1.0 - w0f);
      const double x0p = d * w[r][kp];
      add_term(r, kp, a);
      if (x0p > 0) {
        add_term(r, kf, x0p * a * a / d);
        rhs += x0p * w0f * a * a;
      }
      // Single-homed on f: all of it lands on the cheapest other candidate.
      if (w[r][kf] >= 1.0 - 1e-9 && kp == (kf == 0 ? 1 : 0)) add_term(r, kf, 1.0);
    }
    return rhs;
  };

  std::vector<std::vector<double>> w_cur = best.x;
  auto merit = [&](const Quantised& q) {
    const std::vector<std::vector<double>> qw = WeightsOf(q, cfg.weight_denominator);
    return 1e6 * PlainOverload(plans, qw, ceiling) + CheckN1(plans, qw, ceiling, true).excess;
  };
  double best_merit = merit(best_q);
  struct Row {
    int row;
    int elastic;
  };
  std::map<std::pair<size_t, size_t>, Row> rows;
  const double n1_penalty = cfg.overload_penalty_ms / 2;
  int stale = 0;  // iterations without improvement in a row
  for (int it = 0; it < cfg.n1_max_iterations && best_merit > 0 && stale < kMaxStale; ++it) {
    out.iterations = it + 1;
    // Scenarios violated at the current point (quantised and continuous).
    const Quantised q_cur =
        Quantise(plans, FlowSolution{.x = w_cur}, ceiling, cfg.weight_denominator);
    const N1Check check_q = CheckN1(plans, WeightsOf(q_cur, cfg.weight_denominator), ceiling, true);
    const N1Check check_x = CheckN1(plans, w_cur, ceiling, true);
    std::set<std::pair<size_t, size_t>> continuous_bad;
    for (const N1Violation& v : check_x.violations) {
      continuous_bad.insert({static_cast<size_t>(v.failed), static_cast<size_t>(v.overloaded)});
    }
    for (const std::vector<N1Violation>* vs : {&check_q.violations, &check_x.violations}) {
      for (const N1Violation& v : *vs) {
        const std::pair<size_t, size_t> key{static_cast<size_t>(v.failed),
                                            static_cast<size_t>(v.overloaded)};
        if (vs == &check_q.violations && continuous_bad.count(key) == 0) {
          // Only rounding breaks it: widen the margin.
          margin[key.second] += 1.5 * (v.load - v.ceiling);
        }
        if (rows.count(key) == 0) {
          const int elastic = lp.AddColumn(0.0, GlpkModel::kInfinity, n1_penalty);
          const int row = lp.AddRow({elastic}, {-1.0}, -GlpkModel::kInfinity, 0.0);
          rows[key] = {row, elastic};
        }
      }
    }
    for (const auto& [key, row] : rows) {
      const double rhs = linearise(key.first, key.second, w_cur);
      idx.push_back(row.elastic);
      coef.push_back(-1.0);
      lp.SetRow(row.row, idx, coef, -GlpkModel::kInfinity, rhs);
    }
    out.scenarios = static_cast<int>(rows.size());
    if (const absl::Status st = lp.Solve(cfg.n1_lp_time_limit_ms); !st.ok()) {
      // Keep the best point so far; say why it stopped.
      out.skipped = absl::StrFormat("N-1 linear program stopped at iteration %d: %s",
                                    out.iterations, st.message());
      break;
    }
    std::vector<std::vector<double>> w_lp(plans.size());
    for (size_t r = 0; r < plans.size(); ++r) {
      w_lp[r].assign(plans[r].candidates.size(), 0.0);
      if (cols[r].empty()) {
        w_lp[r] = best.x[r];
        continue;
      }
      for (size_t k = 0; k < cols[r].size(); ++k) {
        double f = lp.value(cols[r][k].second);
        if (cols[r][k].first >= 0) f += lp.value(cols[r][k].first);
        w_lp[r][k] = std::max(0.0, f / plans[r].solved_demand);
      }
    }
    // Line search on the simulated merit: full step, then halves.
    bool accepted = false;
    std::vector<std::vector<double>> w_try = w_lp;
    for (double t : {1.0, 0.5, 0.25}) {
      for (size_t r = 0; r < plans.size(); ++r) {
        for (size_t k = 0; k < w_try[r].size(); ++k) {
          w_try[r][k] = w_cur[r][k] + t * (w_lp[r][k] - w_cur[r][k]);
          if (w_try[r][k] < 1e-12) w_try[r][k] = 0;
        }
      }
      Quantised q = Quantise(plans, FlowSolution{.x = w_try}, ceiling, cfg.weight_denominator);
      const double m = merit(q);
      if (m < best_merit - 1e-12) {
        best_merit = m;
        best.x = w_try;
        best_q = std::move(q);
        accepted = true;
        out.improved = true;
        break;
      }
    }
    stale = accepted ? 0 : stale + 1;
    // Move the linearisation point even without improvement (damped).
    if (accepted) {
      w_cur = best.x;
    } else {
      for (size_t r = 0; r < plans.size(); ++r) {
        for (size_t k = 0; k < w_cur[r].size(); ++k) {
          w_cur[r][k] += 0.5 * (w_lp[r][k] - w_cur[r][k]);
        }
      }
    }
  }
  if (out.improved) best.lp_objective = LpObjectiveOf(plans, best.x, usable, cfg);
  return out;
}

// N-1 by a sequence of conservative linear programs (N1Search,
// optimizer/n1_headroom.h), starting from the plain LP optimum; the merit of
// a point is that of its quantised weights, simulated exactly: 1e6 x normal
// overload + N-1 excess.
absl::StatusOr<N1SlpOutcome> RefineN1(const std::vector<RegionPlan>& plans,
                                      const std::vector<double>& ceiling,
                                      const std::vector<double>& usable, const OptimizerConfig& cfg,
                                      FlowSolution& best, Quantised& best_q) {
  N1SlpOutcome out;
  const size_t pops = ceiling.size();
  size_t arcs = 0;
  for (const RegionPlan& plan : plans) arcs += 2 * plan.candidates.size();
  if (arcs > static_cast<size_t>(cfg.n1_lp_max_columns)) {
    out.skipped = absl::StrFormat("N-1 linear program skipped: %d columns > n1_lp_max_columns %d",
                                  arcs, cfg.n1_lp_max_columns);
    return out;
  }
  // Stage 1: the linearised SLP (fast progress from the plain optimum).
  VANTAGE_ASSIGN_OR_RETURN(out, RefineN1Linearised(plans, ceiling, usable, cfg, best, best_q));
  if (!out.ran) return out;
  // Stage 2: conservative steps from its best point.
  // Rounding can add up to a quantum of every split region on a PoP; after
  // a failure that is amplified, so the rows keep this margin (grown where
  // the quantised point still violates and the continuous one does not).
  const double unit = 1.0 / static_cast<double>(cfg.weight_denominator);
  std::vector<double> margin(pops, 0.0);
  for (const RegionPlan& plan : plans) {
    for (const Candidate& c : plan.candidates) {
      margin[static_cast<size_t>(c.pop)] += plan.solved_demand * unit;
    }
  }
  auto merit = [&](const std::vector<std::vector<double>>& w) {
    Quantised q = Quantise(plans, FlowSolution{.x = w}, ceiling, cfg.weight_denominator);
    const std::vector<std::vector<double>> qw = WeightsOf(q, cfg.weight_denominator);
    N1Check check = CheckN1(plans, qw, ceiling, true);
    N1Search::MeritValue v;
    v.merit = 1e6 * PlainOverload(plans, qw, ceiling) + check.excess;
    v.cost = LpObjectiveOf(plans, w, usable, cfg);
    v.violations = std::move(check.violations);
    return v;
  };
  // The start: stage 1's best point, as quantised there.
  N1Search::MeritValue start = merit(best.x);
  {
    const std::vector<std::vector<double>> qw = WeightsOf(best_q, cfg.weight_denominator);
    N1Check check = CheckN1(plans, qw, ceiling, true);
    start.merit = 1e6 * PlainOverload(plans, qw, ceiling) + check.excess;
    start.violations = std::move(check.violations);
  }
  constexpr int kPolishIterations = 6;
  N1Search search(plans, ceiling, usable, best.relaxed, cfg);
  VANTAGE_ASSIGN_OR_RETURN(N1Search::Outcome o,
                           search.Run(best.x, start, merit, margin, kPolishIterations));
  out.iterations += o.iterations;
  out.scenarios += o.rows;
  if (!o.stopped.empty()) out.skipped = o.stopped;
  if (o.improved) {
    out.improved = true;
    best.x = std::move(o.weights);
    best_q = Quantise(plans, FlowSolution{.x = best.x}, ceiling, cfg.weight_denominator);
    best.lp_objective = LpObjectiveOf(plans, best.x, usable, cfg);
  }
  return out;
}

// Lower bounds on the N-1 excess of any weights over these candidates, one
// per failure in `failed`: when f is down, post-failure loads are some
// routing of every region's demand over its other candidates, so the least
// total overload of any such routing (a min-cost flow with zero costs and
// capacities = ceilings) bounds the excess of that failure from below.
// WarmFlowNetwork::SolveFailures solves them all on one network (f's
// capacity 0, warm); a region whose only candidate is f is stranded (it
// loses service, adds no load), so its demand, which there overflows at f,
// is taken off.
// With a session's `network`, on the bound network it keeps (warm from the
// last call's; `paths`: every measured path).
absl::StatusOr<std::vector<double>> FailureExcessBounds(
    const std::vector<RegionPlan>& plans, const std::vector<double>& ceiling,
    const OptimizerConfig& cfg, const std::vector<PopId>& failed, WarmFlowNetwork* network,
    const std::vector<std::vector<Candidate>>& paths) {
  std::vector<RegionPlan> zero(plans.size());
  std::vector<double> stranded(ceiling.size(), 0.0);
  for (size_t r = 0; r < plans.size(); ++r) {
    RegionPlan& out = zero[r];
    out.solved_demand = plans[r].solved_demand;
    // Zero costs: the flow then minimises overload alone.
    for (const Candidate& c : plans[r].candidates) out.candidates.push_back({c.pop, 0.0, 0.0, 0.0});
    if (out.candidates.size() == 1) {
      stranded[static_cast<size_t>(out.candidates[0].pop)] += out.solved_demand;
    }
  }
  VANTAGE_ASSIGN_OR_RETURN(std::vector<double> overflow,
                           network != nullptr
                               ? network->SolveFailuresKept(zero, paths, ceiling, cfg, failed)
                               : WarmFlowNetwork::SolveFailures(zero, ceiling, cfg, failed));
  for (size_t i = 0; i < failed.size(); ++i) {
    overflow[i] = std::max(0.0, overflow[i] - stranded[static_cast<size_t>(failed[i])]);
  }
  return overflow;
}

}  // namespace

absl::Status ValidateOptimizerConfig(const OptimizerConfig& c) {
  VANTAGE_RETURN_IF_ERROR(ValidateCostModelConfig(c.cost));
  if (c.candidates_per_region < 0) return absl::InvalidArgumentError("candidates_per_region < 0");
  if (!(c.utilisation_ceiling > 0 && c.utilisation_ceiling <= 1)) {
    return absl::InvalidArgumentError("utilisation_ceiling must be in (0, 1]");
  }
  if (!std::isfinite(c.stability_cost_ms) || c.stability_cost_ms < 0) {
    return absl::InvalidArgumentError("stability_cost_ms must be finite and >= 0");
  }
  if (!(c.max_weight_change > 0 && c.max_weight_change <= 1)) {
    return absl::InvalidArgumentError("max_weight_change must be in (0, 1]");
  }
  if (c.weight_denominator < 1 || c.weight_denominator > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError("weight_denominator must be in [1, 2^30]");
  }
  if (c.n1_max_iterations < 1) return absl::InvalidArgumentError("n1_max_iterations < 1");
  if (c.n1_repair_max_moves < 0 || c.n1_repair_max_evaluations < 0) {
    return absl::InvalidArgumentError(
        "n1_repair_max_moves and n1_repair_max_evaluations must be >= 0");
  }
  if (!std::isfinite(c.unmeasured_path_cost_ms) || c.unmeasured_path_cost_ms < 0) {
    return absl::InvalidArgumentError("unmeasured_path_cost_ms must be finite and >= 0");
  }
  const double max_cost = std::max(c.cost.max_cost_ms, c.unmeasured_path_cost_ms);
  if (!std::isfinite(c.overload_penalty_ms) || c.overload_penalty_ms <= 2 * max_cost) {
    return absl::InvalidArgumentError(
        "overload_penalty_ms must exceed twice the largest path cost (max_cost_ms, "
        "unmeasured_path_cost_ms)");
  }
  return absl::OkStatus();
}

namespace {
absl::StatusOr<OptimizationResult> OptimizeImpl(const graph::AnycastGraph& graph,
                                                const OptimizerConfig& cfg, absl::Time now,
                                                WarmFlowNetwork* network, CandidateCache* cache);
}  // namespace

absl::StatusOr<OptimizationResult> Optimize(const graph::AnycastGraph& graph,
                                            const OptimizerConfig& cfg, absl::Time now) {
  return OptimizeImpl(graph, cfg, now, nullptr, nullptr);
}

absl::StatusOr<OptimizationResult> OptimizeWithNetwork(const graph::AnycastGraph& graph,
                                                       const OptimizerConfig& cfg, absl::Time now,
                                                       WarmFlowNetwork& network,
                                                       CandidateCache* cache) {
  return OptimizeImpl(graph, cfg, now, &network, cache);
}

namespace {

absl::StatusOr<OptimizationResult> OptimizeImpl(const graph::AnycastGraph& graph,
                                                const OptimizerConfig& cfg, absl::Time now,
                                                WarmFlowNetwork* network, CandidateCache* cache) {
  VANTAGE_RETURN_IF_ERROR(ValidateOptimizerConfig(cfg));
  const CostModel cost_model(cfg.cost);
  const auto pops = static_cast<size_t>(graph.pop_count());
  OptimizationResult result;
  std::vector<double> ceiling(pops, 0.0);
  std::vector<PopId> healthy;
  result.pops.resize(pops);
  for (size_t p = 0; p < pops; ++p) {
    const graph::Pop& pop = graph.pop(static_cast<PopId>(p));
    PopLoad& pl = result.pops[p];
    pl.pop = static_cast<PopId>(p);
    pl.capacity = pop.capacity;
    pl.healthy = pop.healthy;
    if (pop.healthy) {
      ceiling[p] = cfg.utilisation_ceiling * pop.capacity;
      healthy.push_back(static_cast<PopId>(p));
    }
    pl.ceiling = ceiling[p];
    result.total_ceiling += ceiling[p];
  }
  if (healthy.empty() && graph.region_count() > 0) {
    return absl::FailedPreconditionError("no healthy PoP: no valid weights exist");
  }

  // Candidates per region; with a session's cache, only for regions whose
  // inputs changed (see optimizer/candidate_cache.h).
  std::vector<RegionPlan>& plans = result.regions;
  const auto regions = static_cast<size_t>(graph.region_count());
  plans.resize(regions);
  // Whether the session network's last Solve() was over exactly the cached
  // entries; cleared until this call's first solve succeeds (an error return
  // in between must not leave a stale promise for the next call).
  bool network_synced = false;
  if (cache != nullptr) {
    network_synced = cache->network_synced;
    cache->network_synced = false;
    std::vector<bool> healthy_now(pops, false);
    for (PopId p : healthy) healthy_now[static_cast<size_t>(p)] = true;
    const bool same = cache->valid && cache->now == now && cache->cost == cfg.cost &&
                      cache->candidates_per_region == cfg.candidates_per_region &&
                      cache->unmeasured_path_cost_ms == cfg.unmeasured_path_cost_ms &&
                      cache->freshness == graph.freshness() && cache->healthy == healthy_now &&
                      cache->revision.size() == regions;
    if (!same) {
      cache->valid = true;
      cache->now = now;
      cache->cost = cfg.cost;
      cache->candidates_per_region = cfg.candidates_per_region;
      cache->unmeasured_path_cost_ms = cfg.unmeasured_path_cost_ms;
      cache->freshness = graph.freshness();
      cache->healthy = std::move(healthy_now);
      cache->revision.assign(regions, 0);
      cache->all.assign(regions, {});
      cache->candidates.assign(regions, {});
      cache->current_cost_ms.assign(regions, 0.0);
      cache->unmeasured.assign(regions, 0);
      cache->path_costs.assign(regions, {});
      network_synced = false;
    }
    cache->changed.assign(regions, 0);
  }
  // Every measured path per region (candidates or not): the network has an
  // arc for each (see warm_flow_network.h), stateless calls included, so
  // that a cold build is the same network (same arcs, same order, same
  // optimal vertex when the LP has several) in sessions and out of them.
  std::vector<std::vector<Candidate>> local_paths(cache == nullptr ? regions : 0);
  std::vector<std::vector<Candidate>>& all_paths = cache != nullptr ? cache->all : local_paths;
  std::vector<Candidate> all;
  std::vector<CandidateCache::PathCost> fresh_costs;
  for (RegionId r = 0; r < graph.region_count(); ++r) {
    const auto ru = static_cast<size_t>(r);
    const graph::Region& region = graph.region(r);
    RegionPlan& plan = plans[ru];
    plan.region = r;
    plan.demand = region.demand;
    result.total_demand += region.demand;
    if (cache != nullptr && cache->revision[ru] == graph.region_revision(r) &&
        cache->revision[ru] != 0) {
      plan.candidates = cache->candidates[ru];
      plan.current_cost_ms = cache->current_cost_ms[ru];
      plan.unmeasured = cache->unmeasured[ru] != 0;
      if (plan.unmeasured) result.unmeasured_regions.push_back(r);
      continue;
    }
    all.clear();
    const std::vector<const graph::Path*>& region_paths = graph.RegionPaths(r);
    if (cache != nullptr) {
      // Re-price only the paths whose stamp changed (candidate_cache.h).
      const std::vector<uint64_t>& stamps = graph.PathRevisionsOfRegion(r);
      std::vector<CandidateCache::PathCost>& known = cache->path_costs[ru];
      // known[] is parallel to the region's paths as of the last call;
      // stamps are unique per path state, so a match at the same index is
      // the same path (and the path itself need not be read at all).
      fresh_costs.resize(region_paths.size());
      for (size_t i = 0; i < region_paths.size(); ++i) {
        CandidateCache::PathCost& e = fresh_costs[i];
        if (i < known.size() && known[i].revision == stamps[i]) {
          e = known[i];
        } else {
          const graph::Path& path = *region_paths[i];
          e.pop = path.pop;
          e.revision = stamps[i];
          e.cost = graph.pop(path.pop).healthy
                       ? cost_model.PathCost(graph, path, now).value_or(-1.0)
                       : -1.0;
        }
        if (e.cost >= 0) all.push_back({e.pop, e.cost, 0.0, 0.0});
      }
      known.swap(fresh_costs);
    } else {
      for (const graph::Path* path : region_paths) {
        if (!graph.pop(path->pop).healthy) continue;
        std::optional<double> c = cost_model.PathCost(graph, *path, now);
        if (c.has_value()) all.push_back({path->pop, *c, 0.0, 0.0});
      }
    }
    if (all.empty()) {
      plan.unmeasured = true;
      result.unmeasured_regions.push_back(r);
      for (PopId p : healthy) all.push_back({p, cfg.unmeasured_path_cost_ms, 0.0, 0.0});
    }
    std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
      return a.cost_ms != b.cost_ms ? a.cost_ms < b.cost_ms : a.pop < b.pop;
    });
    const size_t k = cfg.candidates_per_region == 0
                         ? all.size()
                         : std::min(all.size(), static_cast<size_t>(cfg.candidates_per_region));
    plan.candidates.reserve(std::min(all.size(), k + region.current_weights.size()));
    for (size_t i = 0; i < all.size(); ++i) {
      bool current = false;
      for (const graph::PopWeight& w : region.current_weights) {
        if (w.pop == all[i].pop) {
          all[i].current_weight = w.weight;
          current = true;
        }
      }
      if (i < k || current) plan.candidates.push_back(all[i]);
    }
    for (const graph::PopWeight& w : region.current_weights) {
      plan.current_cost_ms += w.weight * cfg.unmeasured_path_cost_ms;
      for (const Candidate& c : all) {
        if (c.pop == w.pop)
          plan.current_cost_ms += w.weight * (c.cost_ms - cfg.unmeasured_path_cost_ms);
      }
    }
    if (cache != nullptr) {
      cache->revision[ru] = graph.region_revision(r);
      cache->candidates[ru] = plan.candidates;
      cache->current_cost_ms[ru] = plan.current_cost_ms;
      cache->unmeasured[ru] = plan.unmeasured ? 1 : 0;
      cache->changed[ru] = 1;
    }
    all_paths[ru] = all;
  }
  // Proportional shedding when demand exceeds capacity.
  if (result.total_demand > result.total_ceiling) {
    result.demand_exceeds_capacity = true;
    result.demand_scale = result.total_ceiling / result.total_demand;
    result.notes.push_back(absl::StrFormat(
        "demand %.6g exceeds total ceiling capacity %.6g: every region is planned at %.4f of its "
        "demand, so each PoP carries at most %.4fx its ceiling (proportional shedding)",
        result.total_demand, result.total_ceiling, result.demand_scale,
        result.demand_scale > 0 ? 1.0 / result.demand_scale : 0.0));
  }
  for (RegionPlan& plan : plans) plan.solved_demand = plan.demand * result.demand_scale;

  // Every solve goes through a WarmFlowNetwork: the session's (warm from the
  // last cycle's basis when only costs changed) or, stateless, a call-local
  // one. The rounding loop's re-solves change only usable capacities, so
  // they re-optimise from the previous solve's basis.
  WarmFlowNetwork local_network;
  // The session's network, if any: it keeps the N-1 bound network too.
  WarmFlowNetwork* const session_network = network;
  if (network == nullptr) network = &local_network;
  // Regions the session network may skip: unchanged since its last Solve().
  const std::vector<uint8_t>* unchanged_hint = nullptr;
  if (cache != nullptr) {
    if (network_synced && cache->demand_scale == result.demand_scale) {
      unchanged_hint = &cache->changed;
    }
    cache->demand_scale = result.demand_scale;
  }
  network->BeginCall();
  bool first_solve = true;
  auto solve = [&](const std::vector<double>& usable, FlowSolution& sol) -> absl::Status {
    // Within this call only usable capacities change after the first solve.
    VANTAGE_RETURN_IF_ERROR(
        first_solve ? network->Solve(plans, all_paths, usable, cfg, &sol, unchanged_hint)
                    : network->ResolveCapacities(plans, usable, cfg, &sol));
    if (first_solve && cache != nullptr) cache->network_synced = true;
    first_solve = false;
    result.pivots += sol.pivots;
    if (cfg.max_weight_change < 1.0 &&
        sol.total_overflow > 1e-9 * std::max(1.0, result.total_demand)) {
      VANTAGE_ASSIGN_OR_RETURN(FlowSolution free,
                               WarmFlowNetwork::SolveOnce(plans, usable, cfg, false));
      result.pivots += free.pivots;
      if (free.total_overflow < sol.total_overflow - 1e-9 * std::max(1.0, result.total_demand)) {
        free.relaxed.assign(plans.size(), true);
        sol = std::move(free);
      }
    }
    FillIdleRegions(plans, sol);
    return absl::OkStatus();
  };

  // Solve, quantise, check; where rounding or (with N-1) a single failure
  // would push a PoP over its ceiling, reserve that much of its usable
  // capacity and solve again. Keep the best attempt.
  const bool do_n1 = cfg.n1_headroom && healthy.size() >= 2 && !result.demand_exceeds_capacity;
  result.n1_requested = cfg.n1_headroom;
  result.n1_checked = do_n1;
  double solved_total = 0;
  for (const RegionPlan& plan : plans) solved_total += plan.solved_demand;
  const double tol = 1e-9 * std::max(1.0, solved_total);
  std::vector<double> usable = ceiling;
  {
    // A PoP that the current weights already fill to within rounding slack
    // (two quanta of every region on it) stays at that level: refilling
    // last cycle's rounding reserve would be churn, not improvement.
    const auto q = static_cast<double>(cfg.weight_denominator);
    std::vector<double> current_load(pops, 0.0), slack(pops, 0.0);
    for (const RegionPlan& plan : plans) {
      for (const graph::PopWeight& w : graph.region(plan.region).current_weights) {
        current_load[static_cast<size_t>(w.pop)] += plan.solved_demand * w.weight;
        slack[static_cast<size_t>(w.pop)] += 2.0 * plan.solved_demand / q;
      }
    }
    for (size_t p = 0; p < pops; ++p) {
      if (current_load[p] <= ceiling[p] && ceiling[p] - current_load[p] <= slack[p]) {
        usable[p] = current_load[p];
      }
    }
  }
  std::vector<double> best_usable = usable;
  FlowSolution best;
  Quantised best_q;
  if (cache != nullptr) {
    best = std::move(cache->scratch_solution[0]);
    best_q.parts = std::move(cache->scratch_parts[0]);
  }
  double best_score = 0;
  // Only rounding overshoot is being fixed here (N-1 follows): a few rounds do it.
  int stale = 0;
  // Each round's solution and rounding; swapped with the best when better
  // (the storage is reused across rounds).
  FlowSolution sol;
  Quantised round_q;
  Quantised spare_q;  // the capacity-aware rounding's copy
  if (cache != nullptr) {
    sol = std::move(cache->scratch_solution[1]);
    round_q.parts = std::move(cache->scratch_parts[1]);
    spare_q.parts = std::move(cache->scratch_parts[2]);
  }
  std::vector<double> best_lp_load;
  // A round that only lowers the usable capacity of PoPs the LP already
  // overloads keeps the LP basis optimal (WarmFlowNetwork::
  // LowerCapacitiesKeepingBasis): the same LP weights, hence the same
  // rounding and cuts, and more overflow, so it cannot become the best
  // round; only its cuts are applied (exactly what a re-solve would give).
  std::vector<double> cut(pops, 0.0), raw_cut(pops, 0.0);
  const CandIndex cand_index(plans);
  for (int it = 0; it < 4 && stale < 3; ++it) {
    bool known = false;
    if (it > 0 && cfg.max_weight_change >= 1.0) {
      VANTAGE_ASSIGN_OR_RETURN(known, network->LowerCapacitiesKeepingBasis(usable));
    }
    if (known) {
      ++stale;
    } else {
      VANTAGE_RETURN_IF_ERROR(solve(usable, sol));
      // Plain rounding here: overshoot is answered by re-solving with a
      // reserve first (that keeps the result a fixed point of the next cycle:
      // stability); capacity-aware rounding is the fallback below.
      // sol.load: LoadsOf(plans, sol.x, pops, true) (idle regions add 0).
      std::vector<double> lp_load = sol.load;
      QuantiseInto(plans, cand_index, sol, ceiling, cfg.weight_denominator, false, lp_load,
                   &round_q);
      const std::vector<double> q_load =
          LoadsOfParts(cand_index, round_q, pops, cfg.weight_denominator);
      // What rounding can add at most on each PoP: a quantum of every region
      // split onto it. Reserving that (not just today's overshoot) settles in
      // one re-solve instead of chasing rounding flips.
      // Needed only where rounding overshoots.
      bool any_over = false;
      for (size_t p = 0; p < pops && !any_over; ++p) {
        any_over = q_load[p] - std::max(ceiling[p], lp_load[p]) > tol;
      }
      std::vector<double> rounding_bound(pops, 0.0);
      for (size_t r = 0; any_over && r < plans.size(); ++r) {
        int used = 0;
        for (double x : sol.x[r]) used += x > kZeroWeight ? 1 : 0;
        if (used < 2) continue;
        for (size_t k = 0; k < sol.x[r].size(); ++k) {
          if (sol.x[r][k] > kZeroWeight) {
            rounding_bound[cand_index.pop_of(r, k)] +=
                cand_index.demand[r] / static_cast<double>(cfg.weight_denominator);
          }
        }
      }
      double rounding_over = 0;
      for (size_t p = 0; p < pops; ++p) {
        const double over = q_load[p] - std::max(ceiling[p], lp_load[p]);
        raw_cut[p] = 0;
        if (over > tol) {
          raw_cut[p] = std::max(over, rounding_bound[p]);
          rounding_over += over;
        }
      }
      const double score = 1e6 * (rounding_over + sol.total_overflow);
      ++stale;
      if (it == 0 || score < best_score - 1e-12) {
        stale = 0;
        best_score = score;
        std::swap(best, sol);
        std::swap(best_q, round_q);
        best_lp_load = std::move(lp_load);
        best_usable = usable;
      }
    }
    cut = raw_cut;
    // Never reserve so much that the demand no longer fits: scale the cuts
    // down to the spare capacity that is left.
    double total_cut = 0;
    for (size_t p = 0; p < pops; ++p) {
      cut[p] = std::min(usable[p], cut[p]);
      total_cut += cut[p];
    }
    const double spare = std::accumulate(usable.begin(), usable.end(), 0.0) - solved_total;
    if (total_cut <= tol || spare <= tol) break;
    const double factor = std::min(1.0, spare / total_cut);
    for (size_t p = 0; p < pops; ++p) usable[p] -= cut[p] * factor;
  }
  for (size_t p = 0; p < pops; ++p) result.pops[p].usable = best_usable[p];
  {
    // Re-solving did not remove the rounding overshoot: round the best LP
    // solution capacity-aware instead.
    const std::vector<double>& lp = best_lp_load;
    auto overshoot = [&](const Quantised& q) {
      const std::vector<double> load = LoadsOfParts(cand_index, q, pops, cfg.weight_denominator);
      double over = 0;
      for (size_t p = 0; p < pops; ++p)
        over += std::max(0.0, load[p] - std::max(ceiling[p], lp[p]) - tol);
      return over;
    };
    const double plain_over = overshoot(best_q);
    if (plain_over > 0) {
      // Into the rounds' storage (no longer needed), with a spare copy.
      Quantised& aware = round_q;
      QuantiseInto(plans, cand_index, best, ceiling, cfg.weight_denominator, true, lp, &aware,
                   &spare_q);
      if (overshoot(aware) < plain_over) std::swap(best_q.parts, aware.parts);
      // Still over: move parts (and chains of parts) to PoPs with room.
      std::vector<double> limit(pops);
      for (size_t p = 0; p < pops; ++p) limit[p] = std::max(ceiling[p], lp[p]);
      int moves = 0;
      const double left = RepairRounding(cand_index, best.x, limit, cfg.weight_denominator, tol,
                                         kRoundingRepairEvaluations, best_q, &moves);
      if (left > 0) {
        std::string worst;
        const std::vector<double> load =
            LoadsOfParts(cand_index, best_q, pops, cfg.weight_denominator);
        for (size_t p = 0; p < pops; ++p) {
          if (load[p] > limit[p] + tol) {
            absl::StrAppendFormat(&worst, " pop %d +%.6g", p, load[p] - limit[p]);
          }
        }
        result.notes.push_back(absl::StrFormat(
            "rounding to multiples of 1/%d leaves PoPs over their ceilings (total %.6g:%s): the "
            "rounding repair found no quantised weights within them (%d move(s)); a larger "
            "weight_denominator gives finer steps",
            cfg.weight_denominator, left, worst, moves));
      }
    }
  }

  // N-1: sequential LP with cut generation, verified by simulation.
  if (do_n1 &&
      CheckN1(plans, WeightsOf(best_q, cfg.weight_denominator), ceiling, true).excess > 0) {
    VANTAGE_ASSIGN_OR_RETURN(N1SlpOutcome slp,
                             RefineN1(plans, ceiling, best_usable, cfg, best, best_q));
    result.n1_iterations = slp.iterations;
    result.n1_scenarios = slp.scenarios;
    if (!slp.skipped.empty()) result.notes.push_back(slp.skipped);
    if (slp.ran) {
      result.notes.push_back(absl::StrFormat(
          "N-1 linear program: %d iteration(s), %d (failed, overloaded) scenario row(s)%s",
          slp.iterations, slp.scenarios, slp.improved ? "" : ", no improvement"));
    }
  }

  std::vector<bool> repair_moved(plans.size(), false);
  // N-1 repair on the quantised weights, when re-solving left violations.
  if (do_n1 && cfg.n1_repair_max_moves > 0 && pops <= kMaxRepairPops) {
    const N1Check check = CheckN1(plans, WeightsOf(best_q, cfg.weight_denominator), ceiling, true);
    if (check.excess > 0) {
      N1Repair repair(plans, ceiling, cfg.weight_denominator);
      int64_t evaluations = 0;
      result.n1_repair_moves = repair.Run(best_q, best.x, cfg.n1_repair_max_moves,
                                          cfg.n1_repair_max_evaluations, &evaluations);
      for (size_t r : repair.moved_regions()) repair_moved[r] = true;
      if (result.n1_repair_moves > 0) {
        result.notes.push_back(
            absl::StrFormat("N-1 repair: %d weight move(s) after re-solving left %d violation(s)",
                            result.n1_repair_moves, check.violations.size()));
      }
    }
  }

  // Hysteresis: a region whose weights would move by less than
  // min_weight_move keeps its current (on-grid, still valid) weights, unless
  // that would push a PoP over its ceiling. Such tiny moves come from
  // rounding slack, not from real change; N-1 must not get worse either.
  if (cfg.min_weight_move > 0) {
    const Quantised before = do_n1 ? best_q : Quantised{};
    std::vector<double> load = LoadsOfParts(cand_index, best_q, pops, cfg.weight_denominator);
    const auto q = static_cast<double>(cfg.weight_denominator);
    int reverted = 0;
    std::vector<bool> done(plans.size(), false);
    // Only regions with current weights can keep them.
    std::vector<size_t> with_current;
    for (size_t r = 0; r < plans.size(); ++r) {
      if (!graph.region(plans[r].region).current_weights.empty()) with_current.push_back(r);
    }
    // Several passes: a region may fit back only once another has.
    for (int pass = 0; pass < 4 && !with_current.empty(); ++pass) {
      for (const size_t r : with_current) {
        if (done[r]) continue;
        const RegionPlan& plan = plans[r];
        std::vector<int64_t> current(plan.candidates.size(), 0);
        int64_t total = 0;
        double moved = 0;
        bool on_grid = true;
        for (size_t k = 0; k < plan.candidates.size(); ++k) {
          const double cur = plan.candidates[k].current_weight * q;
          current[k] = static_cast<int64_t>(std::llround(cur));
          on_grid = on_grid && std::fabs(cur - static_cast<double>(current[k])) < 1e-6;
          total += current[k];
          moved += std::fabs(static_cast<double>(current[k] - best_q.parts[r][k])) / q;
        }
        moved /= 2;
        if (!on_grid || total != cfg.weight_denominator || moved == 0 ||
            moved >= cfg.min_weight_move) {
          continue;
        }
        bool fits = true;
        for (size_t k = 0; k < plan.candidates.size() && fits; ++k) {
          const auto p = static_cast<size_t>(plan.candidates[k].pop);
          const double delta =
              plan.solved_demand * static_cast<double>(current[k] - best_q.parts[r][k]) / q;
          fits = delta <= 0 || load[p] + delta <= ceiling[p] * (1 + 1e-9) + 1e-9;
        }
        if (!fits) continue;
        for (size_t k = 0; k < plan.candidates.size(); ++k) {
          load[static_cast<size_t>(plan.candidates[k].pop)] +=
              plan.solved_demand * static_cast<double>(current[k] - best_q.parts[r][k]) / q;
        }
        best_q.parts[r] = current;
        done[r] = true;
        ++reverted;
      }
    }
    if (reverted > 0 && do_n1) {
      const N1Check with = CheckN1(plans, WeightsOf(best_q, cfg.weight_denominator), ceiling, true);
      const N1Check without =
          CheckN1(plans, WeightsOf(before, cfg.weight_denominator), ceiling, true);
      if (with.excess > without.excess + 1e-9) {
        best_q = before;
        reverted = 0;
      }
    }
    if (reverted > 0) {
      result.notes.push_back(absl::StrFormat(
          "%d region(s) kept their weights: the change would be below min_weight_move", reverted));
    }
  }

  // Report.
  result.lp_objective = best.lp_objective;
  const auto den = static_cast<double>(cfg.weight_denominator);
  for (size_t r = 0; r < plans.size(); ++r) {
    RegionPlan& plan = plans[r];
    plan.change_limit_relaxed = best.relaxed[r] || (repair_moved[r] && cfg.max_weight_change < 1.0);
    plan.cost_ms = 0;
    double moved = 0;
    size_t used = 0;
    for (int64_t parts : best_q.parts[r]) used += parts > 0 ? 1 : 0;
    plan.weights.reserve(used);
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      Candidate& c = plan.candidates[k];
      c.lp_weight = best.x[r][k];
      const double weight = static_cast<double>(best_q.parts[r][k]) / den;  // as WeightsOf()
      if (best_q.parts[r][k] > 0) {
        plan.weights.push_back({c.pop, best_q.parts[r][k], weight});
        plan.cost_ms += weight * c.cost_ms;
      }
      moved += std::fabs(weight - c.current_weight);
    }
    // Current weight on PoPs that are no longer candidates moves entirely.
    for (const graph::PopWeight& cw : graph.region(static_cast<RegionId>(r)).current_weights) {
      bool found = false;
      for (const Candidate& c : plan.candidates) found = found || c.pop == cw.pop;
      if (!found) moved += cw.weight;
    }
    plan.moved = moved / 2;
    std::sort(plan.weights.begin(), plan.weights.end(),
              [](const WeightShare& a, const WeightShare& b) { return a.pop < b.pop; });
    if (plan.weights.size() == 1) {
      for (const Candidate& c : plan.candidates) {
        if (c.pop != plan.weights[0].pop) {
          plan.fallback_pop = c.pop;
          break;
        }
      }
    }
    result.objective += plan.demand * plan.cost_ms;
    for (const WeightShare& s : plan.weights) {
      result.pops[static_cast<size_t>(s.pop)].load += plan.demand * s.weight;
    }
    for (const graph::PopWeight& cw : graph.region(static_cast<RegionId>(r)).current_weights) {
      result.pops[static_cast<size_t>(cw.pop)].current_load += plan.demand * cw.weight;
    }
  }
  for (const PopLoad& pl : result.pops) result.overload += std::max(0.0, pl.load - pl.ceiling);
  if (result.overload > 1e-9 * std::max(1.0, result.total_ceiling)) {
    result.notes.push_back(
        absl::StrFormat("predicted overload above ceilings: %.6g", result.overload));
  }
  if (!result.unmeasured_regions.empty()) {
    result.notes.push_back(
        absl::StrFormat("%d region(s) have no measured path to a healthy PoP; planned at %g ms on "
                        "every healthy PoP",
                        result.unmeasured_regions.size(), cfg.unmeasured_path_cost_ms));
  }
  int relaxed = 0;
  for (const RegionPlan& plan : plans) relaxed += plan.change_limit_relaxed ? 1 : 0;
  if (relaxed > 0) {
    result.notes.push_back(absl::StrFormat(
        "max_weight_change relaxed for %d region(s) (current PoPs gone, or to avoid overload)",
        relaxed));
  }
  if (result.n1_checked) {
    N1Check final_check = CheckN1(plans, WeightsOf(best_q, cfg.weight_denominator), ceiling, true);
    result.n1_violations = std::move(final_check.violations);
    result.n1_excess = final_check.excess;
    if (!result.n1_violations.empty()) {
      // Is it unavoidable? A failure whose traffic cannot be re-routed over
      // the regions' other candidates in any way proves N-1 infeasible.
      std::map<PopId, double> by_failure;
      for (const N1Violation& v : result.n1_violations) by_failure[v.failed] += v.load - v.ceiling;
      std::vector<std::pair<double, PopId>> worst;
      worst.reserve(by_failure.size());
      for (const auto& [f, ex] : by_failure) worst.emplace_back(-ex, f);
      std::sort(worst.begin(), worst.end());
      if (worst.size() > static_cast<size_t>(cfg.n1_bound_max_failures)) {
        worst.resize(static_cast<size_t>(cfg.n1_bound_max_failures));
      }
      // Each failure's excess is bounded separately, so their sum bounds
      // the total excess.
      PopId proof = -1;
      double proof_bound = 0;
      std::vector<PopId> failures;
      for (const auto& [neg, f] : worst) failures.push_back(f);
      VANTAGE_ASSIGN_OR_RETURN(
          const std::vector<double> bounds,
          FailureExcessBounds(plans, ceiling, cfg, failures, session_network, all_paths));
      for (size_t i = 0; i < failures.size(); ++i) {
        const PopId f = failures[i];
        const double b = bounds[i];
        if (b > 1e-9 * std::max(1.0, solved_total)) {
          result.n1_failure_bounds.push_back({f, b});
          result.n1_min_excess_bound += b;
        }
        if (b > proof_bound) {
          proof_bound = b;
          proof = f;
        }
      }
      result.n1_infeasible = result.n1_min_excess_bound > 1e-9 * std::max(1.0, solved_total);
      if (result.n1_infeasible) result.n1_infeasible_failure = proof;
      if (result.n1_infeasible) {
        result.notes.push_back(absl::StrFormat(
            "N-1 infeasible: if PoP %d fails, no weights over these candidates avoid overload "
            "(minimum excess %.6g for that failure, %.6g over %d such failure(s)); best found: "
            "excess %.6g",
            proof, proof_bound, result.n1_min_excess_bound, result.n1_failure_bounds.size(),
            result.n1_excess));
      } else {
        result.notes.push_back(absl::StrFormat(
            "N-1 not met (best effort): excess %.6g remains; every failure can be absorbed on "
            "its own (lower bound 0), but no weights absorbing all were found",
            result.n1_excess));
      }
    }
    result.n1_satisfied = result.n1_violations.empty() && final_check.stranded_regions == 0;
    if (final_check.stranded_regions > 0) {
      result.notes.push_back(absl::StrFormat(
          "N-1: %d region(s) have a single candidate PoP and lose service if it fails",
          final_check.stranded_regions));
    }
    if (!result.n1_violations.empty()) {
      result.notes.push_back(absl::StrFormat(
          "N-1 headroom not achievable: %d (failed PoP, overloaded PoP) pair(s) remain",
          result.n1_violations.size()));
    }
  } else if (cfg.n1_headroom) {
    result.notes.push_back(result.demand_exceeds_capacity
                               ? "N-1 headroom skipped: demand already exceeds capacity"
                               : "N-1 headroom skipped: fewer than two healthy PoPs");
  }
  if (cache != nullptr) {
    cache->scratch_solution[0] = std::move(best);
    cache->scratch_solution[1] = std::move(sol);
    cache->scratch_parts[0] = std::move(best_q.parts);
    cache->scratch_parts[1] = std::move(round_q.parts);
    cache->scratch_parts[2] = std::move(spare_q.parts);
  }
  return result;
}

}  // namespace

std::vector<double> SimulateFailure(const OptimizationResult& result, graph::PopId failed) {
  const size_t pops = result.pops.size();
  std::vector<std::vector<double>> w(result.regions.size());
  std::vector<std::pair<size_t, size_t>> users;
  for (size_t r = 0; r < result.regions.size(); ++r) {
    const RegionPlan& plan = result.regions[r];
    w[r].assign(plan.candidates.size(), 0.0);
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      for (const WeightShare& s : plan.weights) {
        if (s.pop == plan.candidates[k].pop) w[r][k] = s.weight;
      }
      if (plan.candidates[k].pop == failed && w[r][k] > 0) users.emplace_back(r, k);
    }
  }
  std::vector<double> load = LoadsOf(result.regions, w, pops, true);
  std::vector<double> extra(pops, 0.0);
  std::vector<size_t> touched;
  SpreadFailure(result.regions, w, users, true, extra, touched, nullptr);
  for (size_t p = 0; p < pops; ++p) load[p] += extra[p];
  if (failed >= 0 && static_cast<size_t>(failed) < pops) load[static_cast<size_t>(failed)] = 0;
  return load;
}

}  // namespace vantage::optimizer
