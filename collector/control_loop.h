// ControlLoop: the collector's closed loop. Every check_interval it snapshots
// the graph (a GraphSource: in the collector BuildGraphFromLatest over
// CollectorState::Latest()), feeds the routers' current weights (the
// Pusher's last good state) to the optimizer, optimises, turns the weights
// into an IntendedState and hands it to the Pusher — when `period` has passed
// since the last push attempt, or earlier when some weight would move by at
// least significant_change ("significant change"). Guardrails, fail-static
// and the audit log are the Pusher's.
//
// An optimizer error or a graph-source error is passed to the Pusher as a
// fail-static request (so it is audited, counted and alerted).
//
// Rollback feed: with an ObservedLoadSource, once per applied push the loop
// asks it for the PoP loads observed in windows ending at or after
// push time + model.observed_load.settle (nullopt: not measurable yet, ask
// again next step), scales them to the push's predicted total (see
// ObservedLoads::Scaled) and hands them to Pusher::CheckObservedLoads, which
// rolls back beyond the margin. A push is not judged when a PoP that had
// predicted load is unhealthy in the step's graph (the network changed, not
// the push; rolling back would hold the loop off while it must react).
//
// With model.state_dir set, every step writes <state_dir>/snapshot.json (the
// graph it optimised, current weights included: `vantagectl optimize
// --input` on it reproduces the step's weights) and <state_dir>/step.json
// (the same snapshot under "snapshot", so one file holds a consistent pair,
// weights per region, predicted and observed PoP loads, the push result and
// the pushed state).
//
// Thread model: RunOnce() on one thread (the caller's). Start() runs RunOnce
// every check_interval on an internal thread until Stop()/destruction; then
// only that thread touches the Pusher. MetricsText() is thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "collector/latest_graph.h"
#include "collector/push_model.h"
#include "core/clock.h"
#include "optimizer/optimizer_session.h"
#include "optimizer/weight_optimizer.h"
#include "push/pusher.h"

namespace vantage::collector {

struct GraphSnapshot {
  graph::AnycastGraph graph;
  absl::Time newest_measurement = absl::InfinitePast();
};
using GraphSource = std::function<absl::StatusOr<GraphSnapshot>()>;
using ObservedLoadSource = std::function<std::optional<ObservedLoads>(absl::Time since)>;

struct ControlStep {
  bool pushed = false;  // a push request went to the Pusher
  std::string trigger{};
  std::optional<push::PushOutcome> outcome{};
  double max_move = 0;  // largest weight move the optimizer proposed vs last good
  // The rollback check made in this step, if any.
  std::optional<push::PushOutcome> load_check{};
};

class ControlLoop {
 public:
  ControlLoop(PushModel model, optimizer::OptimizerConfig optimizer, GraphSource source,
              push::Pusher* pusher, const Clock* clock);
  ~ControlLoop();
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  // Optional; set before Start().
  void SetObservedLoadSource(ObservedLoadSource source) { observed_ = std::move(source); }

  ControlStep RunOnce();
  void Start();
  void Stop();
  // The Pusher's metrics as of the last step, plus the loop's: steps, last
  // optimize duration, predicted/observed loads and PoP health, weights.
  std::string MetricsText() const;

 private:
  PushModel model_;
  // Keeps the flow network and its optimal basis between cycles: when only
  // measurements moved, the LP re-solves warm (same result as a cold solve).
  optimizer::OptimizerSession session_;
  GraphSource source_;
  push::Pusher* pusher_;
  const Clock* clock_;
  void CheckObservedLoads(ControlStep& step, const graph::AnycastGraph* g);
  void WriteState(const graph::AnycastGraph* g, const optimizer::OptimizationResult* result,
                  const ControlStep& step) const;
  std::string LoopMetrics(const graph::AnycastGraph* g,
                          const optimizer::OptimizationResult* result) const;

  ObservedLoadSource observed_;
  std::optional<absl::Time> last_attempt_;
  std::optional<absl::Time> judged_push_;  // last_applied() already judged
  std::map<std::string, double> last_observed_;
  double last_optimize_s_ = 0;
  bool last_optimize_warm_ = false;
  uint64_t steps_ = 0;
  mutable std::mutex mu_;
  std::string metrics_;  // guarded by mu_
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace vantage::collector
