#include "probe/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace vantage::probe {

TokenBucket::TokenBucket(double rate, double burst, absl::Time now)
    : rate_(rate > 0 ? rate : 1), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

void TokenBucket::Refill(absl::Time now) {
  if (now <= last_) return;
  tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
  last_ = now;
}

bool TokenBucket::TryTake(absl::Time now, double n) {
  Refill(now);
  if (tokens_ + 1e-9 < n) return false;
  tokens_ -= n;
  return true;
}

int64_t TokenBucket::Available(absl::Time now) {
  Refill(now);
  return static_cast<int64_t>(std::floor(tokens_ + 1e-9));
}

absl::Time TokenBucket::WhenAvailable(absl::Time now, double n) {
  Refill(now);
  if (tokens_ + 1e-9 >= n) return now;
  return now + absl::Seconds((n - tokens_) / rate_);
}

}  // namespace vantage::probe
