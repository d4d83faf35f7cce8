#include "collector/loss_history.h"

#include <algorithm>
#include <cmath>

namespace vantage::collector {

double LossHistory::Update(const std::string& pop, const std::string& region, int method,
                           uint64_t sent, uint64_t lost, absl::Time window_end) {
  lost = std::min(lost, sent);
  if (half_life_ <= absl::ZeroDuration()) {
    return sent == 0 ? 0.0 : static_cast<double>(lost) / static_cast<double>(sent);
  }
  Entry& e = paths_[{pop, region, method}];
  if (window_end > e.last && sent > 0) {
    if (e.last != absl::InfinitePast()) {
      const double decay = std::exp2(-absl::FDivDuration(window_end - e.last, half_life_));
      e.sent *= decay;
      e.lost *= decay;
    }
    e.sent += static_cast<double>(sent);
    e.lost += static_cast<double>(lost);
    e.last = window_end;
  }
  return e.sent > 0 ? std::clamp(e.lost / e.sent, 0.0, 1.0) : 0.0;
}

void LossHistory::Forget(absl::Time now) {
  for (auto it = paths_.begin(); it != paths_.end();) {
    if (now - it->second.last > forget_after_) {
      it = paths_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace vantage::collector
