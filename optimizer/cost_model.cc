#include "optimizer/cost_model.h"

#include <algorithm>
#include <cmath>

namespace vantage::optimizer {

absl::Status ValidateCostModelConfig(const CostModelConfig& c) {
  for (double v : {c.median_weight, c.tail_weight, c.loss_penalty_ms, c.dns_weight, c.min_samples,
                   c.thin_data_penalty_ms, c.max_cost_ms}) {
    if (!std::isfinite(v) || v < 0) {
      return absl::InvalidArgumentError("cost model weights and penalties must be finite and >= 0");
    }
  }
  if (c.max_cost_ms <= 0) return absl::InvalidArgumentError("max_cost_ms must be > 0");
  return absl::OkStatus();
}

std::optional<double> CostModel::PathCost(const graph::AnycastGraph& graph, const graph::Path& path,
                                          absl::Time now) const {
  const graph::Measurement* rtt = nullptr;
  double rtt_fresh = -1;
  const graph::Measurement* dns = nullptr;
  const absl::Duration expiry = graph.freshness().expiry;
  for (const graph::Measurement& m : path.measurements) {
    if (now - m.updated > expiry) continue;
    if (m.dns_ms.has_value() && (dns == nullptr || m.updated > dns->updated)) dns = &m;
    if (m.method == graph::Method::kDns) continue;
    const double fresh = graph.FreshSamples(m, now);
    if (fresh > rtt_fresh) {
      rtt = &m;
      rtt_fresh = fresh;
    }
  }
  if (rtt == nullptr) return std::nullopt;
  double cost = config_.median_weight * rtt->rtt_p50_ms +
                config_.tail_weight * (rtt->rtt_p99_ms - rtt->rtt_p50_ms) +
                config_.loss_penalty_ms * rtt->loss;
  if (dns != nullptr) cost += config_.dns_weight * *dns->dns_ms;
  if (config_.min_samples > 0) {
    cost += config_.thin_data_penalty_ms * std::max(0.0, 1.0 - rtt_fresh / config_.min_samples);
  }
  return std::clamp(cost, 0.0, config_.max_cost_ms);
}

}  // namespace vantage::optimizer
