// TokenBucket: the global packets-per-second ceiling of the active prober.
// Tokens accrue at `rate` per second up to `burst`; a probe leaves only with
// a token, otherwise it waits (the prober delays, never drops, a probe).
//
// Thread model: a value type; not synchronised. Time is passed in (the
// monotonic clock), so tests drive it with a FakeClock.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace vantage::probe {

class TokenBucket {
 public:
  // rate > 0 tokens per second; burst >= 1. Starts full at `now`.
  TokenBucket(double rate, double burst, absl::Time now);

  // Takes `n` tokens if available at `now`.
  bool TryTake(absl::Time now, double n = 1);
  // How many whole tokens are available at `now`.
  int64_t Available(absl::Time now);
  // When `n` tokens will be available (now, if they already are).
  absl::Time WhenAvailable(absl::Time now, double n = 1);

  double rate() const { return rate_; }

 private:
  void Refill(absl::Time now);

  double rate_;
  double burst_;
  double tokens_;
  absl::Time last_;
};

}  // namespace vantage::probe
