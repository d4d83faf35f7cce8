// LossModel: decides, packet by packet, whether one direction of an emulated
// link loses the packet: independent (Bernoulli) loss, and optionally
// Gilbert-Elliott burst loss on top of it.
//
// Thread model: not thread-safe; owned by one link direction on the
// emulator's loop thread. The random generator is passed in so a test can
// seed it.
#pragma once

#include <optional>
#include <random>

#include "lab/topology.h"

namespace vantage::lab {

class LossModel {
 public:
  LossModel() = default;
  LossModel(double bernoulli, std::optional<GilbertElliottParams> gilbert_elliott);

  // Changes the probabilities; a burst state in progress is kept.
  void Reconfigure(double bernoulli, std::optional<GilbertElliottParams> gilbert_elliott);

  // Advances the model by one packet; true means the packet is lost.
  bool Lose(std::mt19937_64& rng);

  bool in_bad_state() const { return bad_; }

 private:
  double bernoulli_ = 0.0;
  std::optional<GilbertElliottParams> gilbert_elliott_;
  bool bad_ = false;
};

}  // namespace vantage::lab
