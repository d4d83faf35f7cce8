#include "lab/write_lead_estimator.h"

#include <algorithm>

namespace vantage::lab {

void WriteLeadEstimator::Add(absl::Duration sample) {
  window_[next_] = sample;
  next_ = (next_ + 1) % kWindow;
  ++samples_;
  if (samples_ < kMinSamples) return;
  const size_t n = std::min(samples_, kWindow);
  std::array<absl::Duration, kWindow> sorted = window_;
  auto middle = sorted.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(sorted.begin(), middle, sorted.begin() + static_cast<std::ptrdiff_t>(n));
  lead_ = std::clamp(*middle, absl::ZeroDuration(), kMaxLead);
}

}  // namespace vantage::lab
