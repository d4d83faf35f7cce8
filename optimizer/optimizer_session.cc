#include "optimizer/optimizer_session.h"

namespace vantage::optimizer {

absl::StatusOr<OptimizationResult> OptimizerSession::Optimize(const graph::AnycastGraph& graph,
                                                              absl::Time now) {
  return OptimizeWithNetwork(graph, config_, now, network_, &cache_);
}

}  // namespace vantage::optimizer
