// GlpkModel: a minimal owner of a GLPK linear program (glp_prob), for the
// optimizer's N-1 program: a minimisation with bounded columns and rows whose
// coefficients can be replaced between solves. Re-solving after a change
// starts from the last basis (GLPK's warm start), which is what makes cut
// generation cheaper than solving from scratch.
//
// Indices are 0-based here (GLPK's own are 1-based). GLPK's terminal output
// is switched off. Solve() scales and crashes a basis on the first solve,
// then runs the primal simplex from the last basis; a failed solve restarts
// once from the standard basis.
//
// Thread model: a single-threaded object. GLPK keeps per-thread environment
// state, so distinct objects may be used from distinct threads.
#pragma once

#include <vector>

#include "absl/status/status.h"

struct glp_prob;

namespace vantage::optimizer {

class GlpkModel {
 public:
  static constexpr double kInfinity = 1e300;  // "no bound"

  GlpkModel();
  ~GlpkModel();
  GlpkModel(const GlpkModel&) = delete;
  GlpkModel& operator=(const GlpkModel&) = delete;

  // A column lo <= x <= hi (hi may be kInfinity) with objective `cost`.
  int AddColumn(double lo, double hi, double cost);
  // Replaces column `column`'s bounds.
  void SetColumnBounds(int column, double lo, double hi);
  // A row lo <= sum coef * x <= hi (either side may be +-kInfinity).
  int AddRow(const std::vector<int>& columns, const std::vector<double>& coefs, double lo,
             double hi);
  // Replaces row `row`'s coefficients and bounds.
  void SetRow(int row, const std::vector<int>& columns, const std::vector<double>& coefs, double lo,
              double hi);

  // Fails if GLPK finds no optimum (infeasible, unbounded, time limit).
  absl::Status Solve(int time_limit_ms);

  double value(int column) const;
  double objective() const;
  int columns() const { return columns_; }
  int rows() const { return rows_; }

 private:
  void Bounds(bool row, int index, double lo, double hi);

  glp_prob* lp_;
  int columns_ = 0;
  int rows_ = 0;
  bool solved_once_ = false;
  std::vector<int> ind_;  // scratch, 1-based for GLPK
  std::vector<double> val_;
};

}  // namespace vantage::optimizer
