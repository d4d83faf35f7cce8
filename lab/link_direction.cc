#include "lab/link_direction.h"

#include <algorithm>

namespace vantage::lab {

LinkDirection::LinkDirection(const LinkParams& params)
    : params_(params), loss_(params.loss, params.gilbert_elliott) {}

void LinkDirection::SetParams(const LinkParams& params) {
  params_ = params;
  loss_.Reconfigure(params.loss, params.gilbert_elliott);
}

std::optional<absl::Time> LinkDirection::Admit(absl::Time now, std::mt19937_64& rng) {
  ++counters_.received;
  if (counters_.queued >= params_.queue_limit) {
    ++counters_.queue_dropped;
    return std::nullopt;
  }
  if (loss_.Lose(rng)) {
    ++counters_.lost;
    return std::nullopt;
  }
  absl::Duration delay = params_.delay;
  if (params_.jitter > absl::ZeroDuration()) {
    const double j = absl::ToDoubleMicroseconds(params_.jitter);
    delay += absl::Microseconds(std::uniform_real_distribution<double>(-j, j)(rng));
    delay = std::max(delay, absl::ZeroDuration());
  }
  absl::Time departure = now + delay;
  if (!params_.allow_reorder) departure = std::max(departure, last_departure_);
  last_departure_ = std::max(last_departure_, departure);
  ++counters_.queued;
  return departure;
}

void LinkDirection::Departed() {
  if (counters_.queued > 0) --counters_.queued;
  ++counters_.delivered;
}

}  // namespace vantage::lab
