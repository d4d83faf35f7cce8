#include "collector/control_loop.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "graph/snapshot_json.h"
#include "nlohmann/json.hpp"
#include "push/json_file_adapter.h"
#include "spdlog/spdlog.h"

namespace vantage::collector {

ControlLoop::ControlLoop(PushModel model, optimizer::OptimizerConfig optimizer, GraphSource source,
                         push::Pusher* pusher, const Clock* clock)
    : model_(std::move(model)),
      session_(optimizer),
      source_(std::move(source)),
      pusher_(pusher),
      clock_(clock) {}

ControlLoop::~ControlLoop() { Stop(); }

void ControlLoop::CheckObservedLoads(ControlStep& step, const graph::AnycastGraph* g) {
  const auto applied = pusher_->last_applied();
  if (!observed_ || !model_.observed_load.enabled || !applied.has_value() ||
      judged_push_ == applied || pusher_->last_prediction().empty()) {
    return;
  }
  // A PoP that carried predicted load and is down now: the prediction no
  // longer describes the network (its traffic is lost, the others' shares
  // grow), so the push is not judged — the new state is the loop's to fix,
  // and rolling back would hold the loop off while it should react.
  if (g != nullptr) {
    for (const auto& [pop, e] : pusher_->last_prediction()) {
      auto id = g->FindPop(pop);
      if (e.predicted > 0 && id.has_value() && !g->pop(*id).healthy) {
        spdlog::info("control loop: push of {} not judged on observed loads: PoP {} is down",
                     absl::FormatTime(*applied), pop);
        judged_push_ = applied;
        return;
      }
    }
  }
  auto observed = observed_(*applied + model_.observed_load.settle);
  if (!observed.has_value()) return;  // not measurable yet
  double total_predicted = 0;
  for (const auto& [pop, e] : pusher_->last_prediction()) total_predicted += e.predicted;
  last_observed_ = observed->Scaled(total_predicted);
  judged_push_ = applied;
  step.load_check = pusher_->CheckObservedLoads(last_observed_);
  if (step.load_check->result == push::PushResult::kRolledBack) {
    judged_push_ = pusher_->last_applied();  // the rollback itself is not judged
  }
}

ControlStep ControlLoop::RunOnce() {
  const absl::Time now = clock_->Now();
  ControlStep step;
  steps_++;
  const bool period_due = !last_attempt_.has_value() || now - *last_attempt_ >= model_.period;
  push::PushRequest req;
  std::optional<graph::AnycastGraph> snapshot;
  std::optional<optimizer::OptimizationResult> result;
  auto snap = source_();
  if (!snap.ok()) {
    req.optimizer_status = snap.status();
    CheckObservedLoads(step, nullptr);
  } else {
    req.telemetry_time = snap->newest_measurement;
    if (pusher_->has_last_good()) {
      if (auto st = SetCurrentWeights(model_, pusher_->last_good(), snap->graph); !st.ok()) {
        req.optimizer_status = st;
      }
    }
    req.inputs_digest = push::Digest(graph::SnapshotToJson(snap->graph, -1));
    snapshot = std::move(snap->graph);
    CheckObservedLoads(step, &*snapshot);
    if (req.optimizer_status.ok()) {
      const absl::Time t0 = absl::Now();
      auto optimized = session_.Optimize(*snapshot, now);
      last_optimize_s_ = absl::ToDoubleSeconds(absl::Now() - t0);
      last_optimize_warm_ = optimized.ok() && session_.last_warm();
      if (!optimized.ok()) {
        req.optimizer_status = optimized.status();
      } else {
        result = std::move(*optimized);
        auto state = IntendedStateFor(model_, *snapshot, *result);
        if (!state.ok()) {
          req.optimizer_status = state.status();
        } else {
          req.proposed = std::move(*state);
          for (const auto& load : result->pops) {
            req.predicted_loads[snapshot->pop(load.pop).name] = {load.load, load.capacity};
          }
          step.max_move = push::MaxWeightShift(push::Diff(pusher_->last_good(), req.proposed));
        }
      }
    }
  }
  // PoPs down in this step's graph; one the routers still send traffic to
  // makes this step a failure reaction, pushed now (see PushRequest).
  bool failure = false;
  if (snapshot.has_value()) {
    for (graph::PopId p = 0; p < snapshot->pop_count(); ++p) {
      if (snapshot->pop(p).healthy) continue;
      req.failed_pops.push_back(snapshot->pop(p).name);
      failure |= pusher_->has_last_good() &&
                 push::CarriesTraffic(pusher_->last_good(), snapshot->pop(p).name);
    }
  }
  const bool significant = step.max_move >= model_.significant_change && step.max_move > 0;
  // Errors are reported on the period (not every check) so alerts are not spammed.
  if (period_due || (req.optimizer_status.ok() && (significant || failure))) {
    step.trigger = failure ? "failure" : period_due ? "period" : "change";
    req.trigger = step.trigger;
    step.outcome = pusher_->Push(req);
    step.pushed = true;
    last_attempt_ = now;
  }
  if (!model_.state_dir.empty()) {
    WriteState(snapshot ? &*snapshot : nullptr, result ? &*result : nullptr, step);
  }
  std::string loop = LoopMetrics(snapshot ? &*snapshot : nullptr, result ? &*result : nullptr);
  std::lock_guard<std::mutex> lock(mu_);
  metrics_ = absl::StrCat(pusher_->MetricsText(), loop);
  return step;
}

void ControlLoop::WriteState(const graph::AnycastGraph* g,
                             const optimizer::OptimizationResult* result,
                             const ControlStep& step) const {
  std::error_code ec;
  std::filesystem::create_directories(model_.state_dir, ec);
  if (g != nullptr) {
    if (auto st = push::WriteFileAtomically(model_.state_dir + "/snapshot.json",
                                            graph::SnapshotToJson(*g));
        !st.ok()) {
      spdlog::warn("control loop: {}", st.ToString());
    }
  }
  nlohmann::json j = {{"time_unix_ns", absl::ToUnixNanos(clock_->Now())},
                      {"step", steps_},
                      {"pushed", step.pushed},
                      {"trigger", step.trigger}};
  if (step.outcome.has_value()) {
    j["result"] = push::PushResultName(step.outcome->result);
    j["reason"] = step.outcome->reason;
  }
  if (step.load_check.has_value()) {
    j["load_check"] = {{"result", push::PushResultName(step.load_check->result)},
                       {"reason", step.load_check->reason}};
  }
  if (g != nullptr) {
    j["snapshot"] = nlohmann::json::parse(graph::SnapshotToJson(*g, -1), nullptr, false);
  }
  if (g != nullptr && result != nullptr) {
    nlohmann::json regions = nlohmann::json::object();
    for (const auto& plan : result->regions) {
      nlohmann::json w = nlohmann::json::object();
      for (const auto& share : plan.weights) w[g->pop(share.pop).name] = share.weight;
      regions[g->region(plan.region).name] = w;
    }
    j["optimized_weights"] = regions;
    nlohmann::json pops = nlohmann::json::object();
    for (const auto& load : result->pops) {
      pops[g->pop(load.pop).name] = {{"predicted_load", load.load},
                                     {"capacity", load.capacity},
                                     {"ceiling", load.ceiling},
                                     {"healthy", load.healthy}};
    }
    j["pops"] = pops;
  }
  j["observed_loads"] = last_observed_;
  if (pusher_->has_last_good()) {
    j["pushed_state"] =
        nlohmann::json::parse(push::IntendedStateToJson(pusher_->last_good(), -1), nullptr, false);
  }
  if (auto st = push::WriteFileAtomically(model_.state_dir + "/step.json", j.dump(2) + "\n");
      !st.ok()) {
    spdlog::warn("control loop: {}", st.ToString());
  }
}

std::string ControlLoop::LoopMetrics(const graph::AnycastGraph* g,
                                     const optimizer::OptimizationResult* result) const {
  std::string out = absl::StrCat(
      "# HELP vantage_control_loop_steps_total Control loop steps.\n"
      "# TYPE vantage_control_loop_steps_total counter\n"
      "vantage_control_loop_steps_total ",
      steps_,
      "\n# HELP vantage_control_loop_optimize_seconds Duration of the last optimization.\n"
      "# TYPE vantage_control_loop_optimize_seconds gauge\n"
      "vantage_control_loop_optimize_seconds ",
      absl::StrFormat("%.6f", last_optimize_s_),
      "\n# HELP vantage_control_loop_optimize_warm Whether the last optimization re-solved warm "
      "from the previous cycle's basis (1) or built its network anew (0).\n"
      "# TYPE vantage_control_loop_optimize_warm gauge\n"
      "vantage_control_loop_optimize_warm ",
      last_optimize_warm_ ? 1 : 0, "\n");
  if (g != nullptr && result != nullptr) {
    absl::StrAppend(&out,
                    "# HELP vantage_control_predicted_load Predicted PoP load of the last "
                    "optimization (demand units).\n"
                    "# TYPE vantage_control_predicted_load gauge\n");
    for (const auto& load : result->pops) {
      absl::StrAppend(&out, "vantage_control_predicted_load{pop=\"", g->pop(load.pop).name, "\"} ",
                      absl::StrFormat("%.3f", load.load), "\n");
    }
    absl::StrAppend(&out,
                    "# HELP vantage_control_pop_healthy 1 when the PoP's telemetry is fresh and "
                    "it reaches someone.\n"
                    "# TYPE vantage_control_pop_healthy gauge\n");
    for (const auto& load : result->pops) {
      absl::StrAppend(&out, "vantage_control_pop_healthy{pop=\"", g->pop(load.pop).name, "\"} ",
                      load.healthy ? 1 : 0, "\n");
    }
  }
  if (!last_observed_.empty()) {
    absl::StrAppend(&out,
                    "# HELP vantage_control_observed_load Observed PoP load after the last push "
                    "(passive client bytes, scaled to the predicted total).\n"
                    "# TYPE vantage_control_observed_load gauge\n");
    for (const auto& [pop, load] : last_observed_) {
      absl::StrAppend(&out, "vantage_control_observed_load{pop=\"", pop, "\"} ",
                      absl::StrFormat("%.3f", load), "\n");
    }
  }
  if (pusher_->has_last_good()) {
    absl::StrAppend(&out,
                    "# HELP vantage_control_weight Weight each PoP announces for a service prefix "
                    "(last good state).\n"
                    "# TYPE vantage_control_weight gauge\n");
    for (const auto& p : pusher_->last_good().prefixes) {
      for (const auto& r : p.routes) {
        absl::StrAppend(&out, "vantage_control_weight{prefix=\"", p.prefix.ToString(), "\",pop=\"",
                        r.pop, "\"} ", absl::StrFormat("%.6f", r.weight), "\n");
      }
    }
  }
  return out;
}

void ControlLoop::Start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      RunOnce();
      lock.lock();
      cv_.wait_for(lock, absl::ToChronoMilliseconds(model_.check_interval),
                   [this] { return stop_; });
    }
  });
}

void ControlLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string ControlLoop::MetricsText() const {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

}  // namespace vantage::collector
