// ProbeScheduler: when each target's next round of probes is due. Each
// target has its own interval; every round is moved by a random jitter
// (uniform in ±jitter × interval) and the first round gets a random phase in
// [0, interval), so targets never fire in synchronised bursts. Rounds keep
// their planned cadence (next = planned + jittered interval) even when the
// prober sends late, so rate limiting delays probes without slowing targets.
//
// Memory: 32 bytes per target (heap entry and plan).
// Thread model: not synchronised; the prober's EventLoop thread. Time is the
// monotonic clock, passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <random>
#include <vector>

#include "absl/time/time.h"

namespace vantage::probe {

class ProbeScheduler {
 public:
  struct Options {
    double jitter = 0.1;  // fraction of the interval, in [0, 0.5]
    bool random_phase = true;
    int64_t max_rounds = 0;  // per target; 0 = unlimited
    uint64_t seed = 1;
  };

  explicit ProbeScheduler(Options options);

  // Schedules `target`'s first round. `interval` > 0.
  void AddTarget(uint32_t target, absl::Duration interval, absl::Time now);

  // The earliest planned round, if any target has rounds left.
  std::optional<absl::Time> NextDue() const;
  // Pops one round due at `now` into `*target` and plans its next one.
  bool PopDue(absl::Time now, uint32_t* target);
  // Every target has run max_rounds rounds (never true when unlimited).
  bool done() const { return heap_.empty(); }
  // Optional: room for `count` more targets without growth slack.
  void Reserve(size_t count);
  // Bytes allocated (capacities of the plan table and the heap).
  size_t AllocatedBytes() const;

 private:
  struct Entry {
    int64_t due_ns;  // monotonic nanoseconds
    uint32_t target;
    bool operator>(const Entry& o) const {
      return due_ns > o.due_ns || (due_ns == o.due_ns && target > o.target);
    }
  };
  struct TargetPlan {
    int64_t interval_ns = 0;
    int64_t rounds = 0;
  };

  Options options_;
  std::mt19937_64 rng_;
  std::vector<TargetPlan> plans_;
  // A priority queue whose storage can be reserved and measured.
  struct Heap : std::priority_queue<Entry, std::vector<Entry>, std::greater<>> {
    void reserve(size_t n) { c.reserve(n); }
    size_t capacity() const { return c.capacity(); }
  };
  Heap heap_;
};

}  // namespace vantage::probe
