#include "collector/control_loop.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "graph/snapshot_json.h"

namespace vantage::collector {

ControlLoop::ControlLoop(PushModel model, optimizer::OptimizerConfig optimizer, GraphSource source,
                         push::Pusher* pusher, const Clock* clock)
    : model_(std::move(model)),
      optimizer_(optimizer),
      source_(std::move(source)),
      pusher_(pusher),
      clock_(clock) {}

ControlLoop::~ControlLoop() { Stop(); }

ControlStep ControlLoop::RunOnce() {
  const absl::Time now = clock_->Now();
  ControlStep step;
  steps_++;
  const bool period_due = !last_attempt_.has_value() || now - *last_attempt_ >= model_.period;
  push::PushRequest req;
  auto snap = source_();
  if (!snap.ok()) {
    req.optimizer_status = snap.status();
  } else {
    req.telemetry_time = snap->newest_measurement;
    if (pusher_->has_last_good()) {
      if (auto st = SetCurrentWeights(model_, pusher_->last_good(), snap->graph); !st.ok()) {
        req.optimizer_status = st;
      }
    }
    req.inputs_digest = push::Digest(graph::SnapshotToJson(snap->graph, -1));
    if (req.optimizer_status.ok()) {
      auto result = optimizer::Optimize(snap->graph, optimizer_, now);
      if (!result.ok()) {
        req.optimizer_status = result.status();
      } else {
        auto state = IntendedStateFor(model_, snap->graph, *result);
        if (!state.ok()) {
          req.optimizer_status = state.status();
        } else {
          req.proposed = std::move(*state);
          for (const auto& load : result->pops) {
            req.predicted_loads[snap->graph.pop(load.pop).name] = {load.load, load.capacity};
          }
          step.max_move = push::MaxWeightShift(push::Diff(pusher_->last_good(), req.proposed));
        }
      }
    }
  }
  const bool significant = step.max_move >= model_.significant_change && step.max_move > 0;
  // Errors are reported on the period (not every check) so alerts are not spammed.
  if (period_due || (req.optimizer_status.ok() && significant)) {
    step.trigger = period_due ? "period" : "change";
    req.trigger = step.trigger;
    step.outcome = pusher_->Push(req);
    step.pushed = true;
    last_attempt_ = now;
  }
  std::lock_guard<std::mutex> lock(mu_);
  metrics_ = absl::StrCat(pusher_->MetricsText(),
                          "# HELP vantage_control_loop_steps_total Control loop steps.\n"
                          "# TYPE vantage_control_loop_steps_total counter\n"
                          "vantage_control_loop_steps_total ",
                          steps_, "\n");
  return step;
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
