// Machine-readable renderings of optimizer results, used by
// `vantagectl optimize|whatif --json` and the collector's JSON API. Names
// (PoPs, regions) rather than ids; the same fields as the tables.
//
// Thread model: stateless functions.
#pragma once

#include <string>

#include "graph/anycast_graph.h"
#include "optimizer/weight_optimizer.h"
#include "optimizer/what_if.h"

namespace vantage::optimizer {

std::string OptimizationResultToJson(const graph::AnycastGraph& graph,
                                     const OptimizationResult& result, int indent = 2);
std::string WhatIfResultToJson(const graph::AnycastGraph& graph, const WhatIfResult& result,
                               int indent = 2);

}  // namespace vantage::optimizer
