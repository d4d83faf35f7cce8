// Pusher: applies proposed IntendedStates through a RouterAdapter behind the
// guardrails (see guardrails.h for the order of checks), keeps the last good
// state, records every attempt in the AuditLog and exposes counters.
//
// Fail-static: an optimizer error, stale telemetry or an adapter error
// leaves last_good() unchanged (the routers keep, or are re-sent, the last
// good state), logs a warning, counts it and raises the alert gauge
// `vantage_push_fail_static` until a push succeeds again.
//
// Rollback: after an applied push, CheckObservedLoads() compares observed
// per-PoP loads with the push's prediction; beyond the margin it re-applies
// the state before that push, records a "rollback" audit entry and holds
// further pushes for rollback_hold.
//
// Thread model: not thread-safe; one control loop thread owns it.
// MetricsText() reads atomics-free snapshots and must be called on that
// thread too (the control loop copies it out for /metrics).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "push/audit_log.h"
#include "push/guardrails.h"
#include "push/intended_state.h"
#include "push/router_adapter.h"

namespace vantage::push {

enum class PushResult {
  kApplied,
  kNoChange,
  kDryRun,
  kFrozen,
  kFailStatic,  // stale telemetry, optimizer error, adapter error
  kRefused,     // invalid state, withdraw-everywhere
  kTooSoon,     // min interval or rollback hold
  kRolledBack,
};
const char* PushResultName(PushResult r);

struct PushRequest {
  IntendedState proposed{};
  std::string trigger = "manual";
  std::string inputs_digest{};
  absl::Time telemetry_time = absl::InfinitePast();  // freshest input measurement
  absl::Status optimizer_status = absl::OkStatus();
  std::map<std::string, PopLoadExpectation> predicted_loads{};  // by pop name
  // PoPs known to be down (the control loop's graph marks them unhealthy).
  // When the last good state still gives one of them weight, the push is a
  // failure reaction: traffic is being sent into a dead PoP, so the rollback
  // hold, min interval and max weight shift do not apply (freeze, fail-static,
  // validity and all-withdrawn still do).
  std::vector<std::string> failed_pops{};
};

struct PushOutcome {
  PushResult result = PushResult::kNoChange;
  std::string reason{};
  // For refusals and fail-static: a short label for metrics ("frozen",
  // "optimizer_error", "no_telemetry", "stale_telemetry", "invalid_state",
  // "withdraw_everywhere", "rollback_hold", "min_interval", "adapter_error",
  // "loads_off_prediction"); empty otherwise.
  std::string reason_code{};
  std::vector<RouteChange> diff{};  // from last good to what was (or would be) applied
  IntendedState state{};            // what was (or would be) applied
};

class Pusher {
 public:
  Pusher(RouterAdapter* adapter, AuditLog* audit, const Clock* clock, GuardrailConfig config);

  PushOutcome Push(const PushRequest& request);
  // Observed loads by pop name, measured after the last applied push.
  PushOutcome CheckObservedLoads(const std::map<std::string, double>& observed);
  // Re-applies last_good() (after an adapter error); audited as "reapply".
  PushOutcome Reapply(const std::string& trigger);

  const IntendedState& last_good() const { return last_good_; }
  bool has_last_good() const { return has_last_good_; }
  bool frozen() const;
  bool alert() const { return alert_; }
  const GuardrailConfig& config() const { return config_; }
  // When the last push (or rollback) was applied to the routers.
  std::optional<absl::Time> last_applied() const { return last_applied_; }
  // The predicted loads of the last applied push (empty after a rollback).
  const std::map<std::string, PopLoadExpectation>& last_prediction() const {
    return last_prediction_;
  }
  // Prometheus text: vantage_push_* counters and gauges (attempts by result,
  // refusals by reason, adapter errors, fail-static, frozen, last push age).
  std::string MetricsText() const;
  uint64_t count(PushResult r) const;

 private:
  PushOutcome Finish(const PushRequest& request, PushOutcome outcome);

  RouterAdapter* adapter_;
  AuditLog* audit_;
  const Clock* clock_;
  GuardrailConfig config_;
  IntendedState last_good_{};
  bool has_last_good_ = false;
  IntendedState previous_good_{};  // before the last applied push
  bool has_previous_good_ = false;
  std::map<std::string, PopLoadExpectation> last_prediction_{};
  std::optional<absl::Time> last_applied_;
  absl::Time hold_until_ = absl::InfinitePast();
  bool alert_ = false;
  std::map<PushResult, uint64_t> counts_{};
  std::map<std::string, uint64_t> refusals_{};  // by reason_code
  uint64_t adapter_errors_ = 0;
  uint64_t failure_reactions_ = 0;
};

}  // namespace vantage::push
