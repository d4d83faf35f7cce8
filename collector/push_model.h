// PushModel: what the control loop needs besides measurements — regions
// (client prefixes for target matching, demand, anycast service prefixes),
// PoPs (capacity, BGP session: the router's address and the next hops the PoP
// announces), the link-bandwidth ASN, the loop's timing and the guardrails.
// Loaded from YAML (core/YamlDoc: unknown keys and bad values are errors with
// file:line:column):
//
//   asn: 65001                          # 2-byte ASN in bandwidth:<asn>:<B/s>
//   full_bandwidth_bytes_per_s: 1.25e9  # announced for weight 1
//   period: 30s                         # push at least this often
//   check_interval: 5s                  # re-optimise this often ...
//   significant_change: 0.1             # ... and push early when a weight moves this much
//   pops:
//     - {name: a, capacity: 100, neighbor: 198.18.1.1,
//        next_hop_v4: 198.18.1.2, next_hop_v6: "2001:db8:1::2"}
//   regions:
//     - {name: eu, demand: 40, prefixes: [198.18.10.0/24],
//        service_prefixes: [198.18.100.0/24, "2001:db8:100::/48"]}
//   guardrails: {dry_run: false, max_weight_shift: 0.25, min_interval: 10s,
//                max_telemetry_age: 2m, rollback_margin: 0.2, rollback_hold: 5m,
//                freeze_file: /run/vantage/push.freeze}
//   # Only in the collector's `control:` section (see collector_config.h):
//   adapter: {type: exabgp, socket: /run/vantage/exabgp.sock}  # or {type: json, path: F}
//   max_series_age: 2m          # older windows are ignored; a PoP with none is down
//   loss_half_life: 30s         # path loss smoothed across windows (0s: latest window
//                               # only); see collector/loss_history.h
//   utilisation_ceiling: 0.8    # optimizer: PoP load ceiling, fraction of capacity
//   n1_headroom: true           # optimizer: keep room for any single PoP failure
//   stability_cost_ms: 2        # optimizer: cost of moving a unit of traffic (damps flapping)
//   observed_load: {enabled: true, settle: 10s, min_flows: 20}
//   state_dir: ""               # if set: each step writes snapshot.json (the graph,
//                               # vantagectl optimize --input reads it) and step.json
//
// Thread model: value types and pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "core/yaml_config.h"
#include "graph/anycast_graph.h"
#include "optimizer/weight_optimizer.h"
#include "push/guardrails.h"
#include "push/intended_state.h"

namespace vantage::collector {

struct PushModelPop {
  std::string name{};
  double capacity = 0;
  IpAddress neighbor{};
  std::optional<IpAddress> next_hop_v4{};
  std::optional<IpAddress> next_hop_v6{};
};

struct PushModelRegion {
  std::string name{};
  double demand = 0;
  std::vector<Prefix> prefixes{};          // client/target prefixes
  std::vector<Prefix> service_prefixes{};  // announced with the region's weights
};

// Where the control loop's pushes go.
struct AdapterConfig {
  std::string type{};  // "exabgp" (socket) or "json" (path); "" = none configured
  std::string socket{};
  std::string path{};
};

// The rollback guardrail's observed-load feed (see ObservedPopLoads).
struct ObservedLoadConfig {
  bool enabled = true;
  // Only windows ending at least this long after a push are judged (set it
  // to at least the probes' window so a judged window started after the push).
  absl::Duration settle = absl::Seconds(10);
  uint64_t min_flows = 20;  // fewer new client flows in total: not judged
};

struct PushModel {
  uint32_t asn = 65000;
  double full_bandwidth_bytes_per_s = 1.25e9;
  absl::Duration period = absl::Seconds(30);
  absl::Duration check_interval = absl::Seconds(5);
  double significant_change = 0.1;
  std::vector<PushModelPop> pops{};
  std::vector<PushModelRegion> regions{};
  push::GuardrailConfig guardrails{};
  AdapterConfig adapter{};
  absl::Duration max_series_age = absl::Minutes(2);
  absl::Duration loss_half_life = absl::Seconds(30);
  double utilisation_ceiling = 0.8;
  bool n1_headroom = true;
  double stability_cost_ms = 2.0;
  ObservedLoadConfig observed_load{};
  std::string state_dir{};
};

absl::StatusOr<PushModel> ParsePushModel(const std::string& text, const std::string& name);
absl::StatusOr<PushModel> LoadPushModel(const std::string& path);
// The model from a mapping inside a larger document (the collector's `control:`).
absl::StatusOr<PushModel> PushModelFromNode(const YamlDoc& doc, const YAML::Node& node);
// The optimizer settings the model carries (the rest are the defaults).
optimizer::OptimizerConfig OptimizerConfigFor(const PushModel& model);

// An empty graph with the model's PoPs and regions (ids in model order).
absl::StatusOr<graph::AnycastGraph> GraphSkeleton(const PushModel& model);

// The routers' state for an optimisation result: for every region's service
// prefix, each PoP with a next hop of the prefix's family gets its weight
// (weights renormalised over those PoPs; a PoP without such a next hop is
// left out). Errors: a region whose weights land only on PoPs without a next
// hop of some service prefix's family.
absl::StatusOr<push::IntendedState> IntendedStateFor(const PushModel& model,
                                                     const graph::AnycastGraph& graph,
                                                     const optimizer::OptimizationResult& result);

// The current weights per region as routers have them, read back from an
// intended state (the region's first service prefix), for the optimizer's
// stability terms. Regions without weights are left out.
absl::Status SetCurrentWeights(const PushModel& model, const push::IntendedState& state,
                               graph::AnycastGraph& graph);

}  // namespace vantage::collector
