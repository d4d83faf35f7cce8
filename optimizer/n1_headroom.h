// N-1 headroom search: continuous weights such that no PoP exceeds its
// ceiling after any single PoP failure, under weighted-ECMP spreading.
//
// The requirement, for every failed f and every other PoP p,
//   post_f(p) = sum_r D_r w_rp / (1 - w_rf)  (+ fallbacks)  <= ceiling_p     (1)
// is not convex. N1Search solves a sequence of CONSERVATIVE linear programs
// (an inner approximation, not a linearisation): around the current weights
// w, every weight gets a cap a_rk = min(w_rk + delta, kMaxShare) (a trust
// region) and, since w_rf <= a_rf,
//   D_r w_rp / (1 - w_rf) <= x_rp / (1 - a_rf)        (x_rp = D_r w_rp)
// which is linear in the flows x. Regions (almost) single-homed on one PoP
// (weight >= kMaxShare) are restricted to that PoP and their fallback PoP b
// for the step: then failing either sends exactly D_r to the other, a
// constant, and other failures add x_rp. Every solution of a step's LP is
// therefore truly N-1-safe on the rows it has, up to the row's elastic
// excess column: the true excess never exceeds the LP's; at delta -> 0 the
// bound is exact at w. Rows (f, p) are added as the exact simulation finds
// them violated or within kNearShare of the ceiling (cut generation), the
// LP is re-solved warm (GLPK dual simplex from the last basis), and a step
// is accepted only if the caller's merit (quantised, simulated) falls;
// delta grows after a success and halves after a failure.
//
// The LP has the same objective and normal constraints as the plain one
// (WeightOptimizer's doc) plus the elastic N-1 rows priced at
// overload_penalty_ms / 2.
//
// Thread model: a single-threaded object; distinct objects may run on
// distinct threads (GLPK environments are per thread).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "optimizer/glpk_model.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer {

// Exact post-failure loads for continuous weights w (per region, per
// candidate, over solved demands): post[f * pops + p] is p's load when f
// fails (SpreadFailure's rule: proportional spreading, or the whole share to
// the region's cheapest other candidate when f was its only weighted PoP).
// post[f * pops + f] = 0.
std::vector<double> N1PostLoads(const std::vector<RegionPlan>& plans,
                                const std::vector<std::vector<double>>& w, size_t pops);

class N1Search {
 public:
  struct Outcome {
    std::vector<std::vector<double>> weights;  // best continuous weights found
    double merit = 0;
    double cost = 0;
    bool improved = false;
    int polish_steps = 0;  // accepted cost-lowering steps at merit 0
    int iterations = 0;    // LP solves
    int rows = 0;          // (failed, overloaded) rows generated
    std::string stopped;   // non-empty: why it stopped early (GLPK error)
  };
  // Merit of continuous weights, lower is better, 0 = done; the caller
  // quantises and simulates, and returns the quantised point's violations.
  struct MeritValue {
    double merit = 0;
    double cost = 0;  // the LP objective of the weights
    std::vector<N1Violation> violations;
  };
  using Merit = std::function<MeritValue(const std::vector<std::vector<double>>&)>;

  // `relaxed`: per region, max_weight_change not applied. `margin`: per PoP,
  // ceiling reserved for quantisation (grown by Run where only rounding
  // breaks a row).
  N1Search(const std::vector<RegionPlan>& plans, const std::vector<double>& ceiling,
           const std::vector<double>& usable, const std::vector<bool>& relaxed,
           const OptimizerConfig& cfg);

  // Once the merit is 0 (N-1 met), up to `polish_iterations` more steps
  // lower the cost while it stays 0 (the conservative rows keep the steps
  // safe).
  absl::StatusOr<Outcome> Run(const std::vector<std::vector<double>>& start,
                              const MeritValue& start_value, const Merit& merit,
                              std::vector<double> margin, int polish_iterations);

 private:
  static constexpr double kMaxShare = 0.95;
  static constexpr double kNearShare = 0.02;  // rows for pairs within 2 % of the ceiling

  struct Cols {
    int keep = -1;
    int extra = -1;
    double keep_cap = 0;  // upper bound of keep (d * current weight)
    double keep_lo = 0;   // lower bound of keep (max_weight_change)
    double extra_cap = GlpkModel::kInfinity;
  };
  struct Row {
    int row = -1;
    int elastic = -1;
  };

  void Build();
  // Sets column caps and row coefficients around w with trust radius delta.
  void Restrict(const std::vector<std::vector<double>>& w, double delta,
                const std::vector<double>& margin);
  void SetN1Row(size_t f, size_t p, const Row& row, const std::vector<double>& margin);
  // Adds rows for pairs violated or near their ceiling at w (and for the
  // quantised point's `violations`); returns how many. Widens `margin` where
  // only rounding breaks a pair.
  int AddRows(const std::vector<std::vector<double>>& w, const std::vector<N1Violation>& violations,
              std::vector<double>& margin);
  Row& RowOf(size_t f, size_t p, int* added);
  std::vector<std::vector<double>> Read() const;

  const std::vector<RegionPlan>& plans_;
  const std::vector<double>& ceiling_;
  const std::vector<double>& usable_;
  const std::vector<bool>& relaxed_;
  const OptimizerConfig& cfg_;
  size_t pops_;
  GlpkModel lp_;
  std::vector<std::vector<Cols>> cols_;                         // per region, per candidate
  std::vector<std::vector<std::pair<size_t, size_t>>> on_pop_;  // (r, k) per pop
  std::map<std::pair<size_t, size_t>, Row> rows_;
  // The current restriction: per region, pinned (kept, fallback) candidates
  // or (-1, -1), and per candidate 1 / (1 - cap).
  std::vector<std::pair<int, int>> pinned_;
  std::vector<std::vector<double>> amp_;
  std::vector<int> idx_;
  std::vector<double> coef_;
};

}  // namespace vantage::optimizer
