// BuildGraphFromLatest: the AnycastGraph the control loop optimises, from the
// collector's latest windows (CollectorState::Latest()) and the PushModel.
//
// Uses active series (ICMP, TCP SYN, STAMP): a series' target belongs to the
// region whose client prefixes match it longest; all series of one (PoP,
// region, method) are merged (RTT sketches merged exactly, sent/received
// summed) into one Measurement, timed at the newest window end. Passive and
// DNS series are not used yet. Series of unknown PoPs or of targets outside
// every region are ignored (counted in `ignored`).
//
// Thread model: a pure function.
#pragma once

#include <map>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "collector/collector_state.h"
#include "collector/push_model.h"
#include "graph/anycast_graph.h"

namespace vantage::collector {

struct LatestGraph {
  graph::AnycastGraph graph;
  absl::Time newest = absl::InfinitePast();  // newest window end used
  int used = 0;
  int ignored = 0;
};

absl::StatusOr<LatestGraph> BuildGraphFromLatest(const PushModel& model,
                                                 const std::map<SeriesKey, LatestSeries>& latest,
                                                 absl::Time now);

}  // namespace vantage::collector
