#include "push/pusher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace vantage::push {

const char* PushResultName(PushResult r) {
  switch (r) {
    case PushResult::kApplied:
      return "applied";
    case PushResult::kNoChange:
      return "no_change";
    case PushResult::kDryRun:
      return "dry_run";
    case PushResult::kFrozen:
      return "frozen";
    case PushResult::kFailStatic:
      return "fail_static";
    case PushResult::kRefused:
      return "refused";
    case PushResult::kTooSoon:
      return "too_soon";
    case PushResult::kRolledBack:
      return "rolled_back";
  }
  return "unknown";
}

Pusher::Pusher(RouterAdapter* adapter, AuditLog* audit, const Clock* clock, GuardrailConfig config)
    : adapter_(adapter), audit_(audit), clock_(clock), config_(std::move(config)) {}

bool Pusher::frozen() const { return FreezeFile::IsFrozen(config_.freeze_file); }

uint64_t Pusher::count(PushResult r) const {
  auto it = counts_.find(r);
  return it == counts_.end() ? 0 : it->second;
}

PushOutcome Pusher::Finish(const PushRequest& request, PushOutcome outcome) {
  counts_[outcome.result]++;
  if (!outcome.reason_code.empty()) refusals_[outcome.reason_code]++;
  if (outcome.result == PushResult::kFailStatic) {
    alert_ = true;
    spdlog::warn("push: fail-static ({}); keeping the last good state", outcome.reason);
  } else if (outcome.result == PushResult::kApplied || outcome.result == PushResult::kNoChange) {
    alert_ = false;
  }
  if (outcome.result != PushResult::kApplied && outcome.result != PushResult::kNoChange) {
    spdlog::info("push [{}]: {} {}", request.trigger, PushResultName(outcome.result),
                 outcome.reason);
  }
  if (audit_ != nullptr) {
    AuditRecord rec;
    rec.time = clock_->Now();
    rec.trigger = request.trigger;
    rec.inputs_digest = request.inputs_digest;
    rec.state_json = IntendedStateToJson(outcome.state, -1);
    rec.diff = DiffText(outcome.diff);
    rec.result = PushResultName(outcome.result);
    rec.reason = outcome.reason;
    if (auto st = audit_->Append(rec); !st.ok()) {
      spdlog::error("push: audit log write failed: {}", st.ToString());
    }
  }
  return outcome;
}

PushOutcome Pusher::Push(const PushRequest& request) {
  const absl::Time now = clock_->Now();
  PushOutcome out;
  out.state = request.proposed;
  Canonicalize(out.state);
  out.diff = Diff(last_good_, out.state);

  if (frozen()) {
    out.result = PushResult::kFrozen;
    out.reason_code = "frozen";
    out.reason = absl::StrCat("frozen by ", config_.freeze_file);
    return Finish(request, std::move(out));
  }
  if (!request.optimizer_status.ok()) {
    out.result = PushResult::kFailStatic;
    out.reason_code = "optimizer_error";
    out.reason = absl::StrCat("optimizer error: ", request.optimizer_status.ToString());
    return Finish(request, std::move(out));
  }
  if (now - request.telemetry_time > config_.max_telemetry_age) {
    out.result = PushResult::kFailStatic;
    out.reason_code =
        request.telemetry_time == absl::InfinitePast() ? "no_telemetry" : "stale_telemetry";
    out.reason = request.telemetry_time == absl::InfinitePast()
                     ? std::string("no telemetry")
                     : absl::StrCat("stale telemetry: newest input is ",
                                    absl::FormatDuration(now - request.telemetry_time), " old");
    return Finish(request, std::move(out));
  }
  if (auto st = ValidateIntendedState(out.state); !st.ok()) {
    out.result = PushResult::kRefused;
    out.reason_code = "invalid_state";
    out.reason = absl::StrCat("invalid state: ", st.message());
    return Finish(request, std::move(out));
  }
  if (auto gone = WithdrawnEverywhere(last_good_, out.state); !gone.empty()) {
    out.result = PushResult::kRefused;
    out.reason_code = "withdraw_everywhere";
    out.reason = absl::StrCat("would withdraw from every PoP: ", absl::StrJoin(gone, ", "));
    return Finish(request, std::move(out));
  }
  if (out.diff.empty()) {
    out.result = PushResult::kNoChange;
    return Finish(request, std::move(out));
  }
  // A failure reaction: the last good state still sends traffic to a PoP
  // the request says is down.
  std::vector<std::string> dead;
  for (const std::string& pop : request.failed_pops) {
    if (has_last_good_ && CarriesTraffic(last_good_, pop)) dead.push_back(pop);
  }
  if (!dead.empty()) {
    out.reason = absl::StrCat("failure reaction: ", absl::StrJoin(dead, ", "),
                              " down; rollback hold, min interval and max shift not applied");
  }
  if (dead.empty() && now < hold_until_) {
    out.result = PushResult::kTooSoon;
    out.reason_code = "rollback_hold";
    out.reason = absl::StrCat("holding after a rollback until ", absl::FormatTime(hold_until_));
    return Finish(request, std::move(out));
  }
  if (dead.empty() && last_applied_.has_value() && now - *last_applied_ < config_.min_interval) {
    out.result = PushResult::kTooSoon;
    out.reason_code = "min_interval";
    out.reason = absl::StrCat("last push ", absl::FormatDuration(now - *last_applied_),
                              " ago, min interval ", absl::FormatDuration(config_.min_interval));
    return Finish(request, std::move(out));
  }
  if (has_last_good_ && dead.empty()) {
    out.state = LimitWeightShift(last_good_, out.state, config_.max_weight_shift);
    out.diff = Diff(last_good_, out.state);
    if (MaxWeightShift(out.diff) < MaxWeightShift(Diff(last_good_, request.proposed)) - 1e-12) {
      out.reason =
          absl::StrFormat("stepped: max weight shift limited to %.4f", config_.max_weight_shift);
    }
  }
  if (config_.dry_run) {
    out.result = PushResult::kDryRun;
    std::printf("dry run: would push\n%s", DiffText(out.diff).c_str());
    return Finish(request, std::move(out));
  }
  if (auto st = adapter_->Apply(out.state); !st.ok()) {
    adapter_errors_++;
    out.result = PushResult::kFailStatic;
    out.reason_code = "adapter_error";
    out.reason = absl::StrCat("adapter ", adapter_->name(), " error: ", st.ToString());
    return Finish(request, std::move(out));
  }
  previous_good_ = last_good_;
  has_previous_good_ = has_last_good_;
  last_good_ = out.state;
  has_last_good_ = true;
  last_applied_ = now;
  last_prediction_ = request.predicted_loads;
  if (!dead.empty()) failure_reactions_++;
  out.result = PushResult::kApplied;
  return Finish(request, std::move(out));
}

PushOutcome Pusher::CheckObservedLoads(const std::map<std::string, double>& observed) {
  PushRequest req;
  req.trigger = "rollback";
  PushOutcome out;
  out.state = last_good_;
  auto off = CheckLoads(last_prediction_, observed, config_.rollback_margin);
  if (off.empty() || !has_last_good_) {
    out.result = PushResult::kNoChange;
    return out;  // nothing to audit
  }
  const std::string why =
      absl::StrCat("observed loads off the prediction: ", absl::StrJoin(off, "; "));
  if (!has_previous_good_) {
    // Nothing to roll back to: the first push stays, but alert.
    out.result = PushResult::kFailStatic;
    out.reason_code = "loads_off_prediction";
    out.reason = absl::StrCat(why, "; no previous state to roll back to");
    return Finish(req, std::move(out));
  }
  out.state = previous_good_;
  out.diff = Diff(last_good_, previous_good_);
  if (auto st = adapter_->Apply(previous_good_); !st.ok()) {
    adapter_errors_++;
    out.result = PushResult::kFailStatic;
    out.reason_code = "adapter_error";
    out.reason = absl::StrCat(why, "; rollback failed: ", st.ToString());
    return Finish(req, std::move(out));
  }
  last_good_ = previous_good_;
  has_previous_good_ = false;
  last_prediction_.clear();
  last_applied_ = clock_->Now();
  hold_until_ = clock_->Now() + config_.rollback_hold;
  alert_ = true;
  out.result = PushResult::kRolledBack;
  out.reason_code = "loads_off_prediction";
  out.reason = why;
  spdlog::warn("push: rolled back: {}", why);
  return Finish(req, std::move(out));
}

PushOutcome Pusher::Reapply(const std::string& trigger) {
  PushRequest req;
  req.trigger = trigger;
  PushOutcome out;
  out.state = last_good_;
  if (!has_last_good_) {
    out.result = PushResult::kNoChange;
    return out;
  }
  if (auto st = adapter_->Apply(last_good_); !st.ok()) {
    adapter_errors_++;
    out.result = PushResult::kFailStatic;
    out.reason_code = "adapter_error";
    out.reason = absl::StrCat("adapter ", adapter_->name(), " error: ", st.ToString());
    return Finish(req, std::move(out));
  }
  out.result = PushResult::kApplied;
  out.reason = "re-applied the last good state";
  return Finish(req, std::move(out));
}

std::string Pusher::MetricsText() const {
  std::string out =
      "# HELP vantage_push_attempts_total Push attempts by result.\n"
      "# TYPE vantage_push_attempts_total counter\n";
  for (PushResult r : {PushResult::kApplied, PushResult::kNoChange, PushResult::kDryRun,
                       PushResult::kFrozen, PushResult::kFailStatic, PushResult::kRefused,
                       PushResult::kTooSoon, PushResult::kRolledBack}) {
    absl::StrAppend(&out, "vantage_push_attempts_total{result=\"", PushResultName(r), "\"} ",
                    count(r), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP vantage_push_adapter_errors_total Router adapter errors.\n"
                  "# TYPE vantage_push_adapter_errors_total counter\n"
                  "vantage_push_adapter_errors_total ",
                  adapter_errors_,
                  "\n# HELP vantage_push_fail_static 1 while the pusher holds the last good "
                  "state because of an error or a rollback.\n"
                  "# TYPE vantage_push_fail_static gauge\n"
                  "vantage_push_fail_static ",
                  alert_ ? 1 : 0,
                  "\n# HELP vantage_push_failure_reactions_total Pushes applied at once to move "
                  "traffic off a down PoP (rollback hold, min interval and max shift not "
                  "applied).\n"
                  "# TYPE vantage_push_failure_reactions_total counter\n"
                  "vantage_push_failure_reactions_total ",
                  failure_reactions_,
                  "\n# HELP vantage_push_frozen 1 while pushing is frozen.\n"
                  "# TYPE vantage_push_frozen gauge\n"
                  "vantage_push_frozen ",
                  frozen() ? 1 : 0, "\n");
  absl::StrAppend(&out,
                  "# HELP vantage_push_refusals_total Pushes refused, held or failed static, by "
                  "reason.\n# TYPE vantage_push_refusals_total counter\n");
  for (const char* code : {"frozen", "optimizer_error", "no_telemetry", "stale_telemetry",
                           "invalid_state", "withdraw_everywhere", "rollback_hold", "min_interval",
                           "adapter_error", "loads_off_prediction"}) {
    auto it = refusals_.find(code);
    absl::StrAppend(&out, "vantage_push_refusals_total{reason=\"", code, "\"} ",
                    it == refusals_.end() ? 0 : it->second, "\n");
  }
  absl::StrAppend(
      &out,
      "# HELP vantage_push_last_applied_age_seconds Seconds since the last push "
      "reached the routers (-1: never).\n"
      "# TYPE vantage_push_last_applied_age_seconds gauge\n"
      "vantage_push_last_applied_age_seconds ",
      last_applied_.has_value()
          ? absl::StrFormat("%.3f", absl::ToDoubleSeconds(clock_->Now() - *last_applied_))
          : std::string("-1"),
      "\n");
  return out;
}

}  // namespace vantage::push
