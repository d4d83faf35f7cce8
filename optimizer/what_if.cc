#include "optimizer/what_if.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace vantage::optimizer {

namespace {

absl::StatusOr<graph::PopId> PopByName(const graph::AnycastGraph& g, const std::string& name) {
  std::optional<graph::PopId> id = g.FindPop(name);
  if (!id.has_value()) return absl::NotFoundError(absl::StrCat("unknown PoP '", name, "'"));
  return *id;
}

absl::StatusOr<graph::RegionId> RegionByName(const graph::AnycastGraph& g,
                                             const std::string& name) {
  std::optional<graph::RegionId> id = g.FindRegion(name);
  if (!id.has_value()) return absl::NotFoundError(absl::StrCat("unknown region '", name, "'"));
  return *id;
}

}  // namespace

absl::StatusOr<graph::AnycastGraph> ApplyScenario(const graph::AnycastGraph& graph,
                                                  const Scenario& scenario) {
  graph::AnycastGraph g = graph;
  for (const std::string& name : scenario.failed_pops) {
    VANTAGE_ASSIGN_OR_RETURN(graph::PopId p, PopByName(g, name));
    VANTAGE_RETURN_IF_ERROR(g.SetPopHealthy(p, false));
  }
  for (const Scenario::CapacityChange& c : scenario.capacities) {
    VANTAGE_ASSIGN_OR_RETURN(graph::PopId p, PopByName(g, c.pop));
    VANTAGE_RETURN_IF_ERROR(g.SetPopCapacity(p, c.capacity));
  }
  for (const Scenario::DemandChange& d : scenario.demands) {
    VANTAGE_ASSIGN_OR_RETURN(graph::RegionId r, RegionByName(g, d.region));
    VANTAGE_RETURN_IF_ERROR(g.SetRegionDemand(r, d.demand));
  }
  for (const Scenario::Degradation& d : scenario.degradations) {
    VANTAGE_ASSIGN_OR_RETURN(graph::PopId p, PopByName(g, d.pop));
    VANTAGE_ASSIGN_OR_RETURN(graph::RegionId r, RegionByName(g, d.region));
    if (!std::isfinite(d.add_ms) || !std::isfinite(d.add_loss)) {
      return absl::InvalidArgumentError("degradation must be finite");
    }
    const graph::Path* path = g.FindPath(p, r);
    if (path == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("path ", d.pop, " -> ", d.region, " is missing (never measured)"));
    }
    const std::vector<graph::Measurement> ms = path->measurements;
    for (graph::Measurement m : ms) {
      m.rtt_p50_ms = std::max(0.0, m.rtt_p50_ms + d.add_ms);
      m.rtt_p90_ms = std::max(m.rtt_p50_ms, m.rtt_p90_ms + d.add_ms);
      m.rtt_p99_ms = std::max(m.rtt_p90_ms, m.rtt_p99_ms + d.add_ms);
      if (m.dns_ms.has_value()) m.dns_ms = std::max(0.0, *m.dns_ms + d.add_ms);
      m.loss = std::clamp(m.loss + d.add_loss, 0.0, 1.0);
      // Same timestamp: RecordMeasurement replaces equal-or-older entries.
      VANTAGE_RETURN_IF_ERROR(g.RecordMeasurement(p, r, m));
    }
  }
  return g;
}

absl::StatusOr<WhatIfResult> WhatIf(const graph::AnycastGraph& graph, const Scenario& scenario,
                                    const OptimizerConfig& config, absl::Time now) {
  WhatIfResult out;
  VANTAGE_ASSIGN_OR_RETURN(out.before, Optimize(graph, config, now));
  VANTAGE_ASSIGN_OR_RETURN(graph::AnycastGraph changed, ApplyScenario(graph, scenario));
  // Next cycle starts from today's optimised weights.
  for (const RegionPlan& plan : out.before.regions) {
    std::vector<graph::PopWeight> w;
    for (const WeightShare& s : plan.weights) w.push_back({s.pop, s.weight});
    VANTAGE_RETURN_IF_ERROR(changed.SetCurrentWeights(plan.region, std::move(w)));
  }
  VANTAGE_ASSIGN_OR_RETURN(out.after, Optimize(changed, config, now));

  const CostModel model(config.cost);
  const size_t pops = static_cast<size_t>(graph.pop_count());
  out.pops.resize(pops);
  for (size_t p = 0; p < pops; ++p) {
    PopImpact& pi = out.pops[p];
    pi.pop = static_cast<graph::PopId>(p);
    pi.ceiling_before = out.before.pops[p].ceiling;
    pi.ceiling_after = out.after.pops[p].ceiling;
    pi.load_before = out.before.pops[p].load;
    pi.load_after = out.after.pops[p].load;
  }
  auto cost_in_changed = [&](graph::RegionId r, graph::PopId p) {
    const graph::Path* path = changed.FindPath(p, r);
    std::optional<double> c = path == nullptr ? std::nullopt : model.PathCost(changed, *path, now);
    return c.value_or(config.unmeasured_path_cost_ms);
  };
  for (size_t r = 0; r < out.before.regions.size(); ++r) {
    const RegionPlan& before = out.before.regions[r];
    const RegionPlan& after = out.after.regions[r];
    const auto rid = static_cast<graph::RegionId>(r);
    const double demand = changed.region(rid).demand;
    RegionImpact ri;
    ri.region = rid;
    ri.cost_before = before.cost_ms;
    ri.cost_after = after.cost_ms;
    // Immediate: surviving weights renormalised, else the fallback.
    double alive = 0;
    for (const WeightShare& s : before.weights) {
      if (changed.pop(s.pop).healthy) alive += s.weight;
    }
    if (alive > 0) {
      for (const WeightShare& s : before.weights) {
        if (!changed.pop(s.pop).healthy) continue;
        const double w = s.weight / alive;
        ri.cost_immediate += w * cost_in_changed(rid, s.pop);
        out.pops[static_cast<size_t>(s.pop)].load_immediate += demand * w;
      }
    } else if (!after.candidates.empty()) {
      const graph::PopId fb = after.candidates.front().pop;
      ri.cost_immediate = cost_in_changed(rid, fb);
      out.pops[static_cast<size_t>(fb)].load_immediate += demand;
    } else {
      ri.cost_immediate = -1;
    }
    out.objective_before += before.demand * ri.cost_before;
    out.objective_immediate += demand * std::max(0.0, ri.cost_immediate);
    out.objective_after += after.demand * ri.cost_after;
    out.regions.push_back(ri);
  }
  return out;
}

}  // namespace vantage::optimizer
