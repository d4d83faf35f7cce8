// Guardrails: the pure checks that stand between a proposed IntendedState and
// the routers. Pusher applies them in this order:
//   1. freeze         — a global switch (a flag file, see FreezeFile) refuses every push;
//   2. fail-static    — optimizer error, or telemetry older than
//                       max_telemetry_age: keep the last good state;
//   3. validity       — ValidateIntendedState;
//   4. all-withdrawn  — never withdraw a prefix from every PoP (also when a
//                       prefix of the last good state is missing);
//   5. min interval   — at most one applied push per min_interval
//                       (the first push is always allowed);
//   6. max shift      — each route's weight moves at most max_weight_shift per
//                       push: a larger proposal is stepped towards (see
//                       LimitWeightShift), never refused;
//   7. dry run        — print the diff, change nothing.
// A failure reaction (a request naming a down PoP that the last good state
// still sends traffic to) skips 5, 6 and the rollback hold: keeping traffic on
// a dead PoP is worse than moving it at once.
// After a push, CheckLoads compares observed PoP loads with the prediction;
// Pusher rolls back when they differ by more than rollback_margin.
//
// Thread model: stateless functions on values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "push/intended_state.h"

namespace vantage::push {

struct GuardrailConfig {
  bool dry_run = false;
  double max_weight_shift = 0.25;  // per route per push, in (0, 1]
  absl::Duration min_interval = absl::Seconds(10);
  absl::Duration max_telemetry_age = absl::Minutes(2);
  // Rollback when |observed - predicted| > rollback_margin * capacity for any PoP.
  double rollback_margin = 0.2;
  // After a rollback, refuse pushes for this long (a human should look).
  absl::Duration rollback_hold = absl::Minutes(5);
  std::string freeze_file;  // empty: no file switch
};

absl::Status ValidateGuardrailConfig(const GuardrailConfig& config);

// `proposed` moved towards from `last_good` so that no route's weight moves
// more than `max_shift`: per prefix, last + t * (proposed - last) with the
// largest t in (0, 1] that respects the limit. Convex combinations keep each
// prefix's weights summing to 1. Prefixes new in `proposed` are taken as they are.
IntendedState LimitWeightShift(const IntendedState& last_good, const IntendedState& proposed,
                               double max_shift);

// Prefixes that `proposed` withdraws from every PoP: all weights 0, or
// present in `last_good` with some weight but absent from `proposed`.
std::vector<std::string> WithdrawnEverywhere(const IntendedState& last_good,
                                             const IntendedState& proposed);

struct PopLoadExpectation {
  double predicted = 0;
  double capacity = 0;
};

// PoPs whose observed load differs from the prediction by more than
// margin * capacity (a PoP missing from `observed` is not judged), as
// "pop: observed X, predicted Y" lines; empty when all agree.
std::vector<std::string> CheckLoads(const std::map<std::string, PopLoadExpectation>& predicted,
                                    const std::map<std::string, double>& observed, double margin);

// The freeze switch: a file whose existence freezes pushing; its contents
// say who froze it and why. vantagectl push freeze|thaw writes/removes it.
struct FreezeFile {
  static bool IsFrozen(const std::string& path);
  static absl::Status Freeze(const std::string& path, const std::string& reason);
  static absl::Status Thaw(const std::string& path);
};

}  // namespace vantage::push
