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
//
// Thread model: value types and pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
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

struct PushModel {
  uint32_t asn = 65000;
  double full_bandwidth_bytes_per_s = 1.25e9;
  absl::Duration period = absl::Seconds(30);
  absl::Duration check_interval = absl::Seconds(5);
  double significant_change = 0.1;
  std::vector<PushModelPop> pops{};
  std::vector<PushModelRegion> regions{};
  push::GuardrailConfig guardrails{};
};

absl::StatusOr<PushModel> ParsePushModel(const std::string& text, const std::string& name);
absl::StatusOr<PushModel> LoadPushModel(const std::string& path);

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
