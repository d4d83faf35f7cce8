// BuildGraphFromLatest: the AnycastGraph the control loop optimises, from the
// collector's latest windows (CollectorState::Latest()) and the PushModel.
// ObservedPopLoads: the rollback guardrail's observed per-PoP load, from the
// same windows.
//
// Which series count, and for which region:
//   - only windows that ended at most model.max_series_age before `now`;
//   - active series (ICMP, TCP SYN, STAMP): the target address belongs to the
//     region with the longest region prefix containing it;
//   - passive series (handshake, TS echo, SEQ/ACK; all merged as method
//     "passive"): the client prefix belongs to the region with the longest
//     region prefix that contains the whole client prefix (a /24 of clients
//     spread over several regions is ambiguous and ignored; pseudonymised
//     prefixes are ignored: they cannot be matched to regions);
//   - DNS series: the server address belongs to the region with the longest
//     region prefix containing it (e.g. a resolver in that region); the
//     answer time becomes the path's dns_ms. DNS toward an anycast address
//     outside every region (the PoP's own service) is ignored for the graph.
// All series of one (PoP, region, method) are merged (sketches exactly,
// sent/received summed) into one Measurement timed at the newest window end.
// With a LossHistory, the Measurement's loss is the history's smoothed loss
// (collector/loss_history.h) instead of the latest windows' alone.
// Series of unknown PoPs, outside every region or unparsable are counted in
// `ignored`.
//
// PoP health: a PoP is marked unhealthy (the optimizer gives it nothing)
// when none of its series is fresh (its probe is silent), or when it sent
// active probes in fresh windows and not one was answered (it reaches no one).
//
// Observed load (rollback feed): the traffic the PoPs' passive capture saw
// from clients, as bytes in the handshake series (the series that carries
// the window's flows/packets/bytes), per PoP, in windows that ended at or
// after `since` (the last push plus a settle time). Loads are scale-free:
// each PoP's share of the bytes times the total predicted load, so they
// compare with the optimizer's predicted loads in demand units. Not judged
// (nullopt) until every PoP of the model with a fresh window has reported one
// ending at or after `since` (a PoP with none is down: load 0), or when fewer
// than observed_load.min_flows new flows were seen in total.
//
// Thread model: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/collector_state.h"
#include "collector/loss_history.h"
#include "collector/push_model.h"
#include "graph/anycast_graph.h"

namespace vantage::collector {

struct LatestGraph {
  graph::AnycastGraph graph;
  absl::Time newest = absl::InfinitePast();  // newest window end used
  int used = 0;
  int ignored = 0;
  int stale = 0;  // series older than max_series_age
};

absl::StatusOr<LatestGraph> BuildGraphFromLatest(const PushModel& model,
                                                 const std::map<SeriesKey, LatestSeries>& latest,
                                                 absl::Time now,
                                                 LossHistory* loss_history = nullptr);

struct ObservedLoads {
  std::map<std::string, uint64_t> bytes;  // by PoP name (every model PoP present)
  std::map<std::string, uint64_t> flows;
  uint64_t total_bytes = 0;
  uint64_t total_flows = 0;
  // PoP -> load in demand units: share of total_bytes * total_predicted.
  std::map<std::string, double> Scaled(double total_predicted) const;
};

std::optional<ObservedLoads> ObservedPopLoads(const PushModel& model,
                                              const std::map<SeriesKey, LatestSeries>& latest,
                                              absl::Time since, absl::Time now);

}  // namespace vantage::collector
