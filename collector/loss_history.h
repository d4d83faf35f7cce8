// LossHistory: each path's loss smoothed across windows, so that one burst
// of loss in one short window does not swing a region's weights (and move
// real traffic) while a lasting change still shows within a few half-lives.
//
// Per (PoP, region, method) it keeps exponentially decayed counts of probes
// sent and lost. A window newer than the last one folded in is added after
// the old counts are decayed by 0.5^(elapsed / half_life), elapsed being the
// time between the two windows' ends; the path's loss is decayed lost over
// decayed sent. The same window seen again (the control loop rebuilds the
// graph from the same latest windows every check) is not counted twice.
// half_life 0 turns smoothing off: the latest window's loss alone.
//
// Example (half_life 30 s, 2 s windows of 20 probes): a burst losing 3 of 20
// probes in one window reads 15 % without smoothing, ≈ 1 % with it; a link
// that starts losing 20 % of its probes reads ≈ 10 % after 30 s and ≈ 15 %
// after 60 s (a 2000 ms/100 % loss penalty makes that 200–300 ms of cost).
//
// Entries not updated for `forget_after` are dropped, so memory is bounded
// by the paths seen within that time.
//
// Thread model: not thread-safe; owned by the control loop's graph source.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "absl/time/time.h"

namespace vantage::collector {

class LossHistory {
 public:
  explicit LossHistory(absl::Duration half_life, absl::Duration forget_after = absl::Minutes(10))
      : half_life_(half_life), forget_after_(forget_after) {}

  // Folds the window ending at `window_end` (sent probes, `lost` of them
  // lost) into the path's history unless it was already folded in, and
  // returns the smoothed loss fraction in [0, 1]. sent == 0 returns the
  // history's loss (0 without history).
  double Update(const std::string& pop, const std::string& region, int method, uint64_t sent,
                uint64_t lost, absl::Time window_end);

  // Drops paths whose newest window is older than now - forget_after.
  void Forget(absl::Time now);

  size_t size() const { return paths_.size(); }
  absl::Duration half_life() const { return half_life_; }

 private:
  struct Entry {
    double sent = 0;
    double lost = 0;
    absl::Time last = absl::InfinitePast();
  };
  absl::Duration half_life_;
  absl::Duration forget_after_;
  std::map<std::tuple<std::string, std::string, int>, Entry> paths_;
};

}  // namespace vantage::collector
