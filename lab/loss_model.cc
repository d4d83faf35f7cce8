#include "lab/loss_model.h"

namespace vantage::lab {
namespace {

bool Chance(double p, std::mt19937_64& rng) {
  if (p <= 0.0) return false;
  if (p >= 1.0) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < p;
}

}  // namespace

LossModel::LossModel(double bernoulli, std::optional<GilbertElliottParams> gilbert_elliott)
    : bernoulli_(bernoulli), gilbert_elliott_(gilbert_elliott) {}

void LossModel::Reconfigure(double bernoulli, std::optional<GilbertElliottParams> gilbert_elliott) {
  bernoulli_ = bernoulli;
  gilbert_elliott_ = gilbert_elliott;
  if (!gilbert_elliott_) bad_ = false;
}

bool LossModel::Lose(std::mt19937_64& rng) {
  bool lost = false;
  if (gilbert_elliott_) {
    const GilbertElliottParams& ge = *gilbert_elliott_;
    bad_ = bad_ ? !Chance(ge.p_bad_to_good, rng) : Chance(ge.p_good_to_bad, rng);
    lost = Chance(bad_ ? ge.loss_bad : ge.loss_good, rng);
  }
  // Drawn even when already lost so the Bernoulli stream does not depend on
  // the burst model.
  const bool independent = Chance(bernoulli_, rng);
  return lost || independent;
}

}  // namespace vantage::lab
