#include "probe/probe_scheduler.h"

#include <algorithm>

namespace vantage::probe {

ProbeScheduler::ProbeScheduler(Options options) : options_(options), rng_(options.seed) {
  options_.jitter = std::clamp(options_.jitter, 0.0, 0.5);
}

void ProbeScheduler::AddTarget(uint32_t target, absl::Duration interval, absl::Time now) {
  if (plans_.size() <= target) plans_.resize(target + 1);
  TargetPlan& plan = plans_[target];
  plan.interval_ns = std::max<int64_t>(1, absl::ToInt64Nanoseconds(interval));
  plan.rounds = 0;
  int64_t phase = 0;
  if (options_.random_phase) {
    phase = std::uniform_int_distribution<int64_t>(0, plan.interval_ns - 1)(rng_);
  }
  heap_.push(Entry{absl::ToUnixNanos(now) + phase, target});
}

std::optional<absl::Time> ProbeScheduler::NextDue() const {
  if (heap_.empty()) return std::nullopt;
  return absl::FromUnixNanos(heap_.top().due_ns);
}

bool ProbeScheduler::PopDue(absl::Time now, uint32_t* target) {
  if (heap_.empty() || heap_.top().due_ns > absl::ToUnixNanos(now)) return false;
  Entry e = heap_.top();
  heap_.pop();
  *target = e.target;
  TargetPlan& plan = plans_[e.target];
  ++plan.rounds;
  if (options_.max_rounds > 0 && plan.rounds >= options_.max_rounds) return true;
  int64_t step = plan.interval_ns;
  if (options_.jitter > 0) {
    const double j =
        std::uniform_real_distribution<double>(-options_.jitter, options_.jitter)(rng_);
    step =
        std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(plan.interval_ns) * (1 + j)));
  }
  heap_.push(Entry{e.due_ns + step, e.target});
  return true;
}

void ProbeScheduler::Reserve(size_t count) {
  plans_.reserve(plans_.size() + count);
  heap_.reserve(heap_.size() + count);
}

size_t ProbeScheduler::AllocatedBytes() const {
  return plans_.capacity() * sizeof(TargetPlan) + heap_.capacity() * sizeof(Entry);
}

}  // namespace vantage::probe
