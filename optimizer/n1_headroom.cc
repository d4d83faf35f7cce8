#include "optimizer/n1_headroom.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"

namespace vantage::optimizer {

namespace {

constexpr double kZeroWeight = 1e-9;

size_t PopOf(const RegionPlan& plan, size_t k) {
  return static_cast<size_t>(plan.candidates[k].pop);
}

// The candidate a region single-homed on candidate k falls back to: its
// cheapest other candidate (candidates are sorted by cost), or size().
size_t FallbackOf(const RegionPlan& plan, size_t k) {
  for (size_t j = 0; j < plan.candidates.size(); ++j) {
    if (j != k) return j;
  }
  return plan.candidates.size();
}

}  // namespace

std::vector<double> N1PostLoads(const std::vector<RegionPlan>& plans,
                                const std::vector<std::vector<double>>& w, size_t pops) {
  std::vector<double> base(pops, 0.0);
  std::vector<double> post(pops * pops, 0.0);
  for (size_t r = 0; r < plans.size(); ++r) {
    const RegionPlan& plan = plans[r];
    const double d = plan.solved_demand;
    double total = 0;
    for (double x : w[r]) total += x;
    for (size_t k = 0; k < w[r].size(); ++k) {
      if (w[r][k] <= 0) continue;
      base[PopOf(plan, k)] += d * w[r][k];
      const size_t f = PopOf(plan, k);
      const double rest = total - w[r][k];
      const double moved = d * w[r][k];
      if (rest > 0) {
        for (size_t j = 0; j < w[r].size(); ++j) {
          if (j == k || w[r][j] <= 0) continue;
          post[f * pops + PopOf(plan, j)] += moved * w[r][j] / rest;
        }
      } else if (const size_t fb = FallbackOf(plan, k); fb < plan.candidates.size()) {
        post[f * pops + PopOf(plan, fb)] += moved;
      }
    }
  }
  for (size_t f = 0; f < pops; ++f) {
    for (size_t p = 0; p < pops; ++p)
      post[f * pops + p] = p == f ? 0.0 : post[f * pops + p] + base[p];
  }
  return post;
}

N1Search::N1Search(const std::vector<RegionPlan>& plans, const std::vector<double>& ceiling,
                   const std::vector<double>& usable, const std::vector<bool>& relaxed,
                   const OptimizerConfig& cfg)
    : plans_(plans),
      ceiling_(ceiling),
      usable_(usable),
      relaxed_(relaxed),
      cfg_(cfg),
      pops_(ceiling.size()) {
  Build();
}

void N1Search::Build() {
  const double s = cfg_.stability_cost_ms;
  const double delta = cfg_.max_weight_change;
  cols_.resize(plans_.size());
  on_pop_.resize(pops_);
  pinned_.assign(plans_.size(), {-1, -1});
  amp_.resize(plans_.size());
  for (size_t r = 0; r < plans_.size(); ++r) {
    const RegionPlan& plan = plans_[r];
    const double d = plan.solved_demand;
    amp_[r].assign(plan.candidates.size(), 1.0);
    if (d <= 0) continue;
    double covered = 0;
    for (const Candidate& c : plan.candidates) covered += c.current_weight;
    const bool constrained = delta < 1.0 && !relaxed_[r] && covered >= 1.0 - 1e-9;
    idx_.clear();
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      const Candidate& c = plan.candidates[k];
      on_pop_[static_cast<size_t>(c.pop)].emplace_back(r, k);
      Cols col;
      col.keep_cap = d * c.current_weight;
      if (c.current_weight > 0 && (s > 0 || constrained)) {
        col.keep_lo = constrained ? d * std::max(0.0, c.current_weight - delta) : 0.0;
        col.keep = lp_.AddColumn(col.keep_lo, col.keep_cap, c.cost_ms - s);
        idx_.push_back(col.keep);
      }
      if (constrained) {
        const double upper = d * std::min(1.0, c.current_weight + delta);
        col.extra_cap = std::max(0.0, upper - (col.keep >= 0 ? col.keep_cap : 0.0));
      }
      col.extra = lp_.AddColumn(0.0, col.extra_cap, c.cost_ms);
      idx_.push_back(col.extra);
      cols_[r].push_back(col);
    }
    lp_.AddRow(idx_, std::vector<double>(idx_.size(), 1.0), d, d);
  }
  for (size_t p = 0; p < pops_; ++p) {
    idx_.clear();
    for (const auto& [r, k] : on_pop_[p]) {
      if (cols_[r][k].keep >= 0) idx_.push_back(cols_[r][k].keep);
      idx_.push_back(cols_[r][k].extra);
    }
    idx_.push_back(lp_.AddColumn(0.0, GlpkModel::kInfinity, cfg_.overload_penalty_ms));
    coef_.assign(idx_.size(), 1.0);
    coef_.back() = -1.0;
    lp_.AddRow(idx_, coef_, -GlpkModel::kInfinity, usable_[p]);
  }
}

void N1Search::Restrict(const std::vector<std::vector<double>>& w, double delta,
                        const std::vector<double>& margin) {
  for (size_t r = 0; r < plans_.size(); ++r) {
    const RegionPlan& plan = plans_[r];
    const double d = plan.solved_demand;
    if (d <= 0 || cols_[r].empty()) continue;
    const size_t n = plan.candidates.size();
    size_t top = 0;
    for (size_t k = 1; k < n; ++k) {
      if (w[r][k] > w[r][top]) top = k;
    }
    // Pin a region (almost) single-homed on `top` to {top, fallback}, unless
    // max_weight_change keeps traffic elsewhere.
    pinned_[r] = {-1, -1};
    if (w[r][top] >= kMaxShare && n >= 2) {
      const size_t fb = FallbackOf(plan, top);
      bool can = true;
      for (size_t k = 0; k < n && can; ++k) can = k == top || k == fb || cols_[r][k].keep_lo <= 0;
      if (can) pinned_[r] = {static_cast<int>(top), static_cast<int>(fb)};
    }
    for (size_t k = 0; k < n; ++k) {
      const Cols& c = cols_[r][k];
      double cap = d;  // flow cap on candidate k
      amp_[r][k] = 1.0;
      if (pinned_[r].first >= 0) {
        const bool in =
            static_cast<int>(k) == pinned_[r].first || static_cast<int>(k) == pinned_[r].second;
        cap = in ? d : 0.0;
      } else {
        // A cap at or above the current weight (the point stays feasible),
        // below 1 - 1e-3 (the amplification stays finite).
        const double a = std::min(std::max(w[r][k], std::min(w[r][k] + delta, kMaxShare)), 0.999);
        cap = d * a;
        amp_[r][k] = 1.0 / (1.0 - a);
      }
      if (c.keep >= 0) {
        const double hi = std::max(c.keep_lo, std::min(c.keep_cap, cap));
        lp_.SetColumnBounds(c.keep, c.keep_lo, hi);
      }
      const double room = c.keep >= 0 ? std::max(0.0, cap - c.keep_cap) : cap;
      lp_.SetColumnBounds(c.extra, 0.0, std::min(c.extra_cap, room));
    }
  }
  for (const auto& [key, row] : rows_) SetN1Row(key.first, key.second, row, margin);
}

void N1Search::SetN1Row(size_t f, size_t p, const Row& row, const std::vector<double>& margin) {
  idx_.clear();
  coef_.clear();
  double rhs = ceiling_[p] - margin[p];
  auto add = [&](const Cols& c, double a) {
    if (c.keep >= 0) {
      idx_.push_back(c.keep);
      coef_.push_back(a);
    }
    idx_.push_back(c.extra);
    coef_.push_back(a);
  };
  for (const auto& [r, kp] : on_pop_[p]) {
    const RegionPlan& plan = plans_[r];
    size_t kf = plan.candidates.size();
    for (size_t k = 0; k < plan.candidates.size(); ++k) {
      if (PopOf(plan, k) == f) kf = k;
    }
    const auto [top, fb] = pinned_[r];
    if (top >= 0) {
      const bool kp_in = static_cast<int>(kp) == top || static_cast<int>(kp) == fb;
      if (!kp_in) continue;  // no flow there this step
      const bool kf_in = kf < plan.candidates.size() &&
                         (static_cast<int>(kf) == top || static_cast<int>(kf) == fb);
      if (kf_in) {
        rhs -= plan.solved_demand;  // the pair's other PoP fails: all of D_r lands on p
      } else {
        add(cols_[r][kp], 1.0);
      }
      continue;
    }
    add(cols_[r][kp], kf < plan.candidates.size() ? amp_[r][kf] : 1.0);
  }
  idx_.push_back(row.elastic);
  coef_.push_back(-1.0);
  lp_.SetRow(row.row, idx_, coef_, -GlpkModel::kInfinity, rhs);
}

N1Search::Row& N1Search::RowOf(size_t f, size_t p, int* added) {
  auto it = rows_.find({f, p});
  if (it != rows_.end()) return it->second;
  Row row;
  row.elastic = lp_.AddColumn(0.0, GlpkModel::kInfinity, cfg_.overload_penalty_ms / 2);
  row.row = lp_.AddRow({row.elastic}, {-1.0}, -GlpkModel::kInfinity, 0.0);
  ++*added;
  return rows_[{f, p}] = row;
}

int N1Search::AddRows(const std::vector<std::vector<double>>& w,
                      const std::vector<N1Violation>& violations, std::vector<double>& margin) {
  const std::vector<double> post = N1PostLoads(plans_, w, pops_);
  int added = 0;
  for (size_t f = 0; f < pops_; ++f) {
    for (size_t p = 0; p < pops_; ++p) {
      if (p == f || ceiling_[p] <= 0) continue;
      if (post[f * pops_ + p] < (1 - kNearShare) * ceiling_[p]) continue;
      RowOf(f, p, &added);
    }
  }
  for (const N1Violation& v : violations) {
    const auto f = static_cast<size_t>(v.failed);
    const auto p = static_cast<size_t>(v.overloaded);
    RowOf(f, p, &added);
    if (post[f * pops_ + p] <= ceiling_[p] * (1 + 1e-9)) {
      margin[p] += 1.5 * (v.load - v.ceiling);  // only rounding breaks it
    }
  }
  return added;
}

std::vector<std::vector<double>> N1Search::Read() const {
  std::vector<std::vector<double>> w(plans_.size());
  for (size_t r = 0; r < plans_.size(); ++r) {
    w[r].assign(plans_[r].candidates.size(), 0.0);
    if (cols_[r].empty()) continue;
    for (size_t k = 0; k < cols_[r].size(); ++k) {
      double f = lp_.value(cols_[r][k].extra);
      if (cols_[r][k].keep >= 0) f += lp_.value(cols_[r][k].keep);
      const double x = std::max(0.0, f / plans_[r].solved_demand);
      w[r][k] = x <= kZeroWeight ? 0.0 : x;
    }
  }
  return w;
}

absl::StatusOr<N1Search::Outcome> N1Search::Run(const std::vector<std::vector<double>>& start,
                                                const MeritValue& start_value, const Merit& merit,
                                                std::vector<double> margin, int polish_iterations) {
  Outcome out;
  out.weights = start;
  out.merit = start_value.merit;
  out.cost = start_value.cost;
  std::vector<std::vector<double>> w_cur = start;
  double delta = 0.1;
  constexpr double kMinDelta = 1e-3;
  constexpr double kMaxDelta = 0.4;
  AddRows(w_cur, start_value.violations, margin);
  int polish = 0;
  for (int it = 0; it < cfg_.n1_max_iterations && delta >= kMinDelta; ++it) {
    if (out.merit <= 0 && polish++ >= polish_iterations) break;
    out.iterations = it + 1;
    Restrict(w_cur, delta, margin);
    if (const absl::Status st = lp_.Solve(cfg_.n1_lp_time_limit_ms); !st.ok()) {
      out.stopped = absl::StrFormat("N-1 linear program stopped at iteration %d: %s",
                                    out.iterations, st.message());
      break;
    }
    std::vector<std::vector<double>> w_lp = Read();
    for (size_t r = 0; r < plans_.size(); ++r) {
      if (cols_[r].empty()) w_lp[r] = start[r];  // idle regions keep theirs
    }
    const MeritValue mv = merit(w_lp);
    // Pairs the step broke that had no row yet (the step was not
    // conservative there), or that only rounding breaks (the margin grows):
    // add them and retry without shrinking.
    const int added = AddRows(w_lp, mv.violations, margin);
    const double cost_tol = 1e-9 * std::max(1.0, std::fabs(out.cost));
    const bool better = mv.merit < out.merit - 1e-12 ||
                        (out.merit <= 0 && mv.merit <= 0 && mv.cost < out.cost - cost_tol);
    if (better) {
      if (out.merit <= 0) ++out.polish_steps;
      out.merit = mv.merit;
      out.cost = mv.cost;
      out.weights = w_lp;
      out.improved = true;
      w_cur = std::move(w_lp);
      delta = std::min(kMaxDelta, delta * 1.5);
    } else if (added == 0) {
      delta *= 0.5;
    }
  }
  out.rows = static_cast<int>(rows_.size());
  return out;
}

}  // namespace vantage::optimizer
