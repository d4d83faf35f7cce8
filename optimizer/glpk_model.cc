#include "optimizer/glpk_model.h"

#include <glpk.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace vantage::optimizer {

namespace {

int Quiet(void* /*info*/, const char* /*s*/) { return 1; }  // swallow GLPK's output

}  // namespace

GlpkModel::GlpkModel() : lp_(glp_create_prob()) {
  glp_term_hook(&Quiet, nullptr);
  glp_set_obj_dir(lp_, GLP_MIN);
}

GlpkModel::~GlpkModel() { glp_delete_prob(lp_); }

void GlpkModel::Bounds(bool row, int index, double lo, double hi) {
  const bool has_lo = lo > -kInfinity;
  const bool has_hi = hi < kInfinity;
  int type = GLP_FR;
  if (has_lo && has_hi) {
    type = lo == hi ? GLP_FX : GLP_DB;
  } else if (has_lo) {
    type = GLP_LO;
  } else if (has_hi) {
    type = GLP_UP;
  }
  const double l = has_lo ? lo : 0.0;
  const double h = has_hi ? hi : 0.0;
  if (row) {
    glp_set_row_bnds(lp_, index + 1, type, l, h);
  } else {
    glp_set_col_bnds(lp_, index + 1, type, l, h);
  }
}

int GlpkModel::AddColumn(double lo, double hi, double cost) {
  glp_add_cols(lp_, 1);
  Bounds(false, columns_, lo, hi);
  glp_set_obj_coef(lp_, columns_ + 1, cost);
  return columns_++;
}

void GlpkModel::SetColumnBounds(int column, double lo, double hi) { Bounds(false, column, lo, hi); }

int GlpkModel::AddRow(const std::vector<int>& columns, const std::vector<double>& coefs, double lo,
                      double hi) {
  glp_add_rows(lp_, 1);
  const int row = rows_++;
  SetRow(row, columns, coefs, lo, hi);
  return row;
}

void GlpkModel::SetRow(int row, const std::vector<int>& columns, const std::vector<double>& coefs,
                       double lo, double hi) {
  // GLPK rejects repeated columns in a row: add their coefficients up.
  std::vector<std::pair<int, double>> terms;
  terms.reserve(columns.size());
  for (size_t i = 0; i < columns.size(); ++i) terms.emplace_back(columns[i], coefs[i]);
  std::sort(terms.begin(), terms.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  ind_.assign(1, 0);
  val_.assign(1, 0.0);
  for (const auto& [col, c] : terms) {
    if (ind_.size() > 1 && ind_.back() == col + 1) {
      val_.back() += c;
    } else {
      ind_.push_back(col + 1);
      val_.push_back(c);
    }
  }
  glp_set_mat_row(lp_, row + 1, static_cast<int>(ind_.size()) - 1, ind_.data(), val_.data());
  Bounds(true, row, lo, hi);
}

absl::Status GlpkModel::Solve(int time_limit_ms) {
  glp_smcp parm;
  glp_init_smcp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.tm_lim = time_limit_ms;
  int rc = 0;
  if (solved_once_) {
    // Warm: from the last basis. The N-1 programs change row coefficients
    // and bounds between solves, which leaves the basis neither primal nor
    // dual feasible; GLPK's primal simplex was measured ~15 % faster here.
    parm.meth = GLP_PRIMAL;
    rc = glp_simplex(lp_, &parm);
  } else {
    glp_scale_prob(lp_, GLP_SF_AUTO);
    glp_adv_basis(lp_, 0);
    parm.meth = GLP_PRIMAL;
    rc = glp_simplex(lp_, &parm);
  }
  if (rc != 0) {
    // A singular or otherwise unusable basis: start over once.
    glp_std_basis(lp_);
    parm.meth = GLP_PRIMAL;
    rc = glp_simplex(lp_, &parm);
  }
  if (rc != 0) return absl::InternalError(absl::StrFormat("glp_simplex failed (%d)", rc));
  const int status = glp_get_status(lp_);
  if (status != GLP_OPT) {
    return absl::InternalError(absl::StrFormat("GLPK: no optimum (status %d)", status));
  }
  solved_once_ = true;
  return absl::OkStatus();
}

double GlpkModel::value(int column) const { return glp_get_col_prim(lp_, column + 1); }

double GlpkModel::objective() const { return glp_get_obj_val(lp_); }

}  // namespace vantage::optimizer
