// CostModel: the cost, in milliseconds-equivalent, of sending one unit of a
// region's traffic to a PoP, from the path's measurements.
//
//   cost = median_weight * rtt_p50
//        + tail_weight   * (rtt_p99 - rtt_p50)          // tail beyond the median
//        + loss_penalty_ms * loss                        // loss as a fraction
//        + dns_weight    * dns_ms                        // when a DNS time exists
//        + thin_data_penalty_ms * max(0, 1 - fresh_samples / min_samples)
//
// clamped to [0, max_cost_ms]. The RTT quantiles and loss come from the RTT
// measurement (any method but dns) with the most fresh samples (decayed by the
// graph's FreshnessPolicy; ties go to the earlier method in Method order);
// dns_ms from the freshest measurement carrying one. Measurements older than
// the graph's expiry are ignored. fresh_samples is the chosen RTT
// measurement's decayed sample count, so thin AND old data both pay the
// confidence penalty, growing smoothly as data ages.
//
// A path with no usable measurement has NO cost (std::nullopt): the
// optimizer never routes over it as if it were free.
//
// Thread model: immutable after construction; safe to share.
#pragma once

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "graph/anycast_graph.h"

namespace vantage::optimizer {

struct CostModelConfig {
  double median_weight = 1.0;
  double tail_weight = 0.25;
  double loss_penalty_ms = 2000.0;  // 1% loss costs as much as 20 ms
  double dns_weight = 0.5;
  double min_samples = 50.0;
  double thin_data_penalty_ms = 20.0;
  double max_cost_ms = 10000.0;

  friend bool operator==(const CostModelConfig&, const CostModelConfig&) = default;
};

absl::Status ValidateCostModelConfig(const CostModelConfig& config);

class CostModel {
 public:
  explicit CostModel(CostModelConfig config) : config_(config) {}

  std::optional<double> PathCost(const graph::AnycastGraph& graph, const graph::Path& path,
                                 absl::Time now) const;

  const CostModelConfig& config() const { return config_; }

 private:
  CostModelConfig config_;
};

}  // namespace vantage::optimizer
