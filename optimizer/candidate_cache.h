// CandidateCache: each region's candidates (and every measured path with its
// cost) from the last Optimize() call of a session, reused for regions whose
// inputs did not change, so that a warm call evaluates the cost model only
// for the regions whose paths changed.
//
// A region's entry is reused when its AnycastGraph::region_revision() stamp
// is the one it was built from AND nothing global that the candidates depend
// on changed: `now`, the cost model, K, unmeasured_path_cost_ms, the graph's
// freshness policy and the set of healthy PoPs. Equal stamps mean an equal
// region and equal paths (the stamps are process-wide unique), so a reused
// entry is bit for bit what rebuilding it would give. Any global change drops
// every entry. `changed[r]` says which regions were rebuilt in the last call;
// the session's WarmFlowNetwork uses it to look at those regions only.
//
// Filled and read by Optimize() (weight_optimizer.cc) only; it also keeps
// per-call storage (scratch_*) for reuse.
// Thread model: a single-threaded object (one per OptimizerSession).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "graph/anycast_graph.h"
#include "optimizer/cost_model.h"
#include "optimizer/warm_flow_network.h"
#include "optimizer/weight_optimizer.h"

namespace vantage::optimizer {

struct CandidateCache {
  // What every entry depends on.
  bool valid = false;
  absl::Time now = absl::InfinitePast();
  CostModelConfig cost{};
  int candidates_per_region = -1;
  double unmeasured_path_cost_ms = -1;
  graph::FreshnessPolicy freshness{};
  std::vector<bool> healthy{};  // per pop

  // Per region.
  std::vector<uint64_t> revision{};                  // region_revision() the entry was built from
  std::vector<std::vector<Candidate>> all{};         // every measured path, sorted by (cost, pop)
  std::vector<std::vector<Candidate>> candidates{};  // RegionPlan::candidates
  std::vector<double> current_cost_ms{};
  std::vector<uint8_t> unmeasured{};
  std::vector<uint8_t> changed{};  // rebuilt in the last call
  // Per region, parallel to AnycastGraph::RegionPaths() as of the last
  // call: every path's pop, PathRevisionsOfRegion() stamp and cost (< 0: no
  // usable measurement, or an unhealthy PoP). A rebuilt region re-prices
  // only the paths whose stamp changed: equal stamps mean an equal path, and
  // the cost's other inputs (now, cost model, freshness policy, health) are
  // the global conditions above.
  struct PathCost {
    graph::PopId pop = 0;
    uint64_t revision = 0;
    double cost = -1;
  };
  std::vector<std::vector<PathCost>> path_costs{};

  // The session network's last Solve() was over exactly these entries and
  // this demand scale: its structure checks may skip unchanged regions.
  bool network_synced = false;
  double demand_scale = 0;

  // Storage of the rounding loop's LP solutions and quantised parts, kept
  // between calls so that a call does not allocate them again (contents are
  // always overwritten).
  WarmFlowNetwork::Solution scratch_solution[2];
  std::vector<std::vector<int64_t>> scratch_parts[3];
};

}  // namespace vantage::optimizer
