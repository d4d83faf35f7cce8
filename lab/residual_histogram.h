// ResidualHistogram: the distribution of how far the emulator's links miss
// their configured delay, as the nodes' kernels see it: for each delivered
// packet, the receiving node's kernel receive time minus the departure time
// the link model gave it (the sending kernel's transmit time plus delay and
// jitter). Signed, in 1 us bins over [-kRangeUs, kRangeUs) plus one bin each
// for everything below and above, so quantiles are exact to half a
// microsecond near zero, where it matters.
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "absl/time/time.h"

namespace vantage::lab {

class ResidualHistogram {
 public:
  static constexpr int kRangeUs = 100;

  void Add(absl::Duration residual);
  uint64_t count() const { return count_; }
  // The q-quantile in microseconds (a bin's middle), -kRangeUs or kRangeUs
  // when it falls outside the fine range; NaN when empty.
  double QuantileUs(double q) const;
  // {"count", "p1", "p10", "p50", "p90", "p99"} and, with `buckets`, a
  // coarse histogram: "<-50", "<-20", "<-10", "<-5", "<-2", "<2", "<5",
  // "<10", "<20", "<50", ">=50" (each from the previous bound up to its own).
  nlohmann::json ToJson(bool buckets) const;

 private:
  // bins_[0]: below -kRangeUs; bins_[1 + i]: [i - kRangeUs, i - kRangeUs + 1) us;
  // the last: kRangeUs and above.
  std::array<uint64_t, 2 * kRangeUs + 2> bins_{};
  uint64_t count_ = 0;
};

}  // namespace vantage::lab
