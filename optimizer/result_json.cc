#include "optimizer/result_json.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

namespace vantage::optimizer {

namespace {

using nlohmann::json;

json N1Json(const graph::AnycastGraph& g, const OptimizationResult& r) {
  json n1 = json::object();
  n1["requested"] = r.n1_requested;
  n1["checked"] = r.n1_checked;
  n1["outcome"] = N1Outcome(r);
  n1["satisfied"] = r.n1_satisfied;
  n1["infeasible"] = r.n1_infeasible;
  n1["excess"] = r.n1_excess;
  n1["min_excess_bound"] = r.n1_min_excess_bound;
  n1["infeasible_failure"] =
      r.n1_infeasible_failure >= 0 ? json(g.pop(r.n1_infeasible_failure).name) : json(nullptr);
  n1["resolves"] = r.n1_iterations;
  n1["scenarios"] = r.n1_scenarios;
  n1["repair_moves"] = r.n1_repair_moves;
  json violations = json::array();
  for (const N1Violation& v : r.n1_violations) {
    violations.push_back({{"failed_pop", g.pop(v.failed).name},
                          {"overloaded_pop", g.pop(v.overloaded).name},
                          {"load", v.load},
                          {"ceiling", v.ceiling},
                          {"over", v.load - v.ceiling}});
  }
  n1["violations"] = std::move(violations);
  json bounds = json::array();
  for (const OptimizationResult::N1FailureBound& b : r.n1_failure_bounds) {
    bounds.push_back({{"failed_pop", g.pop(b.failed).name}, {"min_excess", b.min_excess}});
  }
  n1["failure_bounds"] = std::move(bounds);
  json failures = json::array();
  for (const N1FailureImpact& f : N1ImpactByFailure(r)) {
    double bound = 0;
    for (const OptimizationResult::N1FailureBound& b : r.n1_failure_bounds) {
      if (b.failed == f.failed) bound = b.min_excess;
    }
    json over = json::array();
    for (const N1Violation& v : f.overloaded) {
      over.push_back({{"pop", g.pop(v.overloaded).name},
                      {"load", v.load},
                      {"ceiling", v.ceiling},
                      {"over", v.load - v.ceiling}});
    }
    failures.push_back({{"failed_pop", g.pop(f.failed).name},
                        {"excess", f.excess},
                        {"min_excess_bound", bound},
                        {"overloaded", std::move(over)}});
  }
  n1["failures"] = std::move(failures);
  return n1;
}

json ResultJson(const graph::AnycastGraph& g, const OptimizationResult& r) {
  json out = json::object();
  out["objective"] = r.objective;
  out["lp_objective"] = r.lp_objective;
  out["total_demand"] = r.total_demand;
  out["total_ceiling"] = r.total_ceiling;
  out["demand_exceeds_capacity"] = r.demand_exceeds_capacity;
  out["demand_scale"] = r.demand_scale;
  out["overload"] = r.overload;
  out["pivots"] = r.pivots;
  out["n1"] = N1Json(g, r);
  json pops = json::array();
  for (const PopLoad& p : r.pops) {
    pops.push_back({{"pop", g.pop(p.pop).name},
                    {"healthy", p.healthy},
                    {"capacity", p.capacity},
                    {"ceiling", p.ceiling},
                    {"usable", p.usable},
                    {"load", p.load},
                    {"current_load", p.current_load},
                    {"utilisation", p.capacity > 0 ? p.load / p.capacity : 0.0}});
  }
  out["pops"] = std::move(pops);
  json regions = json::array();
  for (const RegionPlan& plan : r.regions) {
    json weights = json::object();
    json parts = json::object();
    for (const WeightShare& s : plan.weights) {
      weights[g.pop(s.pop).name] = s.weight;
      parts[g.pop(s.pop).name] = s.parts;
    }
    json current = json::object();
    for (const graph::PopWeight& w : g.region(plan.region).current_weights) {
      current[g.pop(w.pop).name] = w.weight;
    }
    json jr = {{"region", g.region(plan.region).name},
               {"demand", plan.demand},
               {"weights", std::move(weights)},
               {"weight_parts", std::move(parts)},
               {"current_weights", std::move(current)},
               {"cost_ms", plan.cost_ms},
               {"current_cost_ms", plan.current_cost_ms},
               {"moved", plan.moved},
               {"unmeasured", plan.unmeasured},
               {"change_limit_relaxed", plan.change_limit_relaxed}};
    if (plan.fallback_pop >= 0) jr["fallback_pop"] = g.pop(plan.fallback_pop).name;
    regions.push_back(std::move(jr));
  }
  out["regions"] = std::move(regions);
  out["notes"] = r.notes;
  return out;
}

}  // namespace

std::string N1Outcome(const OptimizationResult& r) {
  if (!r.n1_requested) return "off";
  if (!r.n1_checked) return "not_checked";
  if (r.n1_satisfied) return "met";
  return r.n1_infeasible ? "infeasible" : "best_effort";
}

std::vector<N1FailureImpact> N1ImpactByFailure(const OptimizationResult& r) {
  std::map<graph::PopId, N1FailureImpact> by;
  for (const N1Violation& v : r.n1_violations) {
    N1FailureImpact& f = by[v.failed];
    f.failed = v.failed;
    f.excess += v.load - v.ceiling;
    f.overloaded.push_back(v);
  }
  std::vector<N1FailureImpact> out;
  out.reserve(by.size());
  for (auto& [id, f] : by) {
    std::stable_sort(f.overloaded.begin(), f.overloaded.end(),
                     [](const N1Violation& a, const N1Violation& b) {
                       return a.load - a.ceiling > b.load - b.ceiling;
                     });
    out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const N1FailureImpact& a, const N1FailureImpact& b) {
    return a.excess > b.excess;
  });
  return out;
}

std::string OptimizationResultToJson(const graph::AnycastGraph& graph,
                                     const OptimizationResult& result, int indent) {
  return ResultJson(graph, result).dump(indent) + "\n";
}

std::string WhatIfResultToJson(const graph::AnycastGraph& g, const WhatIfResult& r, int indent) {
  json out = json::object();
  out["objective_before"] = r.objective_before;
  out["objective_immediate"] = r.objective_immediate;
  out["objective_after"] = r.objective_after;
  json pops = json::array();
  for (const PopImpact& p : r.pops) {
    pops.push_back(
        {{"pop", g.pop(p.pop).name},
         {"ceiling_before", p.ceiling_before},
         {"ceiling_after", p.ceiling_after},
         {"load_before", p.load_before},
         {"load_immediate", p.load_immediate},
         {"load_after", p.load_after},
         {"over_ceiling_immediately", p.load_immediate > p.ceiling_after * (1 + 1e-9) + 1e-9},
         {"over_immediately", std::max(0.0, p.load_immediate - p.ceiling_after)}});
  }
  out["pops"] = std::move(pops);
  json regions = json::array();
  for (const RegionImpact& ri : r.regions) {
    json jr = {{"region", g.region(ri.region).name},
               {"cost_before_ms", ri.cost_before},
               {"cost_after_ms", ri.cost_after},
               {"cost_change_ms", ri.cost_after - ri.cost_before}};
    if (ri.cost_immediate >= 0) {
      jr["cost_immediate_ms"] = ri.cost_immediate;
    } else {
      jr["cost_immediate_ms"] = nullptr;  // lost every PoP
    }
    regions.push_back(std::move(jr));
  }
  out["regions"] = std::move(regions);
  out["after"] = ResultJson(g, r.after);
  return out.dump(indent) + "\n";
}

}  // namespace vantage::optimizer
