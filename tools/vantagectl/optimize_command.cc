// `vantagectl optimize --input snapshot.json [--json]`: weights per region,
// predicted PoP loads, objective and the diff against the snapshot's
// current weights.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/snapshot_json.h"
#include "optimizer/result_json.h"
#include "optimizer/weight_optimizer.h"
#include "tools/vantagectl/command.h"
#include "tools/vantagectl/optimizer_options.h"

namespace {

using vantage::graph::AnycastGraph;
using vantage::optimizer::OptimizationResult;

struct OptimizeArgs {
  std::string input;
  bool json = false;
  int limit = 40;
  vantagectl::OptimizerOptions options;
};

std::string WeightsText(const AnycastGraph& g, const vantage::optimizer::RegionPlan& plan) {
  std::vector<std::string> parts;
  for (const auto& s : plan.weights) {
    parts.push_back(absl::StrFormat("%s=%.4f", g.pop(s.pop).name, s.weight));
  }
  return absl::StrJoin(parts, " ");
}

std::string CurrentText(const AnycastGraph& g, vantage::graph::RegionId r) {
  std::vector<std::string> parts;
  for (const auto& w : g.region(r).current_weights) {
    parts.push_back(absl::StrFormat("%s=%.4f", g.pop(w.pop).name, w.weight));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

void PrintN1Summary(const AnycastGraph& g, const OptimizationResult& r) {
  const std::string outcome = vantage::optimizer::N1Outcome(r);
  if (outcome == "off" || outcome == "not_checked") {
    std::printf("N-1 headroom: %s\n", outcome == "off" ? "off (--no-n1)" : "not checked");
    return;
  }
  if (outcome == "met") {
    std::printf("N-1 headroom: met (every single-PoP failure simulated; %d LP round(s))\n",
                r.n1_iterations);
    return;
  }
  std::printf(
      "N-1 headroom: %s: excess %.6g over %zu (failed, overloaded) pair(s); lower bound %.6g",
      outcome == "infeasible" ? "INFEASIBLE (proven), best found" : "NOT MET, best effort",
      r.n1_excess, r.n1_violations.size(), r.n1_min_excess_bound);
  if (r.n1_infeasible_failure >= 0) {
    std::printf(" (if %s fails no weights avoid overload)",
                g.pop(r.n1_infeasible_failure).name.c_str());
  }
  std::printf("\n");
}

void PrintN1Failures(const AnycastGraph& g, const OptimizationResult& r) {
  const auto impacts = vantage::optimizer::N1ImpactByFailure(r);
  if (impacts.empty()) return;
  std::printf("\n%-12s %10s  %s\n", "N-1 FAILED", "EXCESS",
              "OVERLOADED POP: LOAD > CEILING (+OVER)");
  for (const auto& f : impacts) {
    std::vector<std::string> parts;
    for (const auto& v : f.overloaded) {
      parts.push_back(absl::StrFormat("%s: %.6g > %.6g (+%.6g)", g.pop(v.overloaded).name, v.load,
                                      v.ceiling, v.load - v.ceiling));
    }
    std::printf("%-12s %10.6g  %s\n", g.pop(f.failed).name.c_str(), f.excess,
                absl::StrJoin(parts, ", ").c_str());
  }
}

void PrintTables(const AnycastGraph& g, const OptimizationResult& r, int limit) {
  std::printf("objective %.6g (demand x ms), LP %.10g, %lld pivots\n", r.objective, r.lp_objective,
              static_cast<long long>(r.pivots));
  std::printf("demand %.6g, ceiling capacity %.6g%s\n", r.total_demand, r.total_ceiling,
              r.demand_exceeds_capacity ? "  ** DEMAND EXCEEDS CAPACITY **" : "");
  PrintN1Summary(g, r);
  for (const std::string& n : r.notes) std::printf("note: %s\n", n.c_str());
  std::printf("\n%-12s %-7s %12s %12s %12s %12s %7s\n", "POP", "HEALTH", "CAPACITY", "CEILING",
              "CUR_LOAD", "NEW_LOAD", "UTIL%");
  for (const auto& p : r.pops) {
    std::printf("%-12s %-7s %12.6g %12.6g %12.6g %12.6g %7.1f\n", g.pop(p.pop).name.c_str(),
                p.healthy ? "up" : "DOWN", p.capacity, p.ceiling, p.current_load, p.load,
                p.capacity > 0 ? 100 * p.load / p.capacity : 0.0);
  }
  PrintN1Failures(g, r);
  std::printf("\n%-16s %10s %9s %9s %7s  %-40s %s\n", "REGION", "DEMAND", "COST_MS", "WAS_MS",
              "MOVED", "WEIGHTS", "CURRENT");
  int shown = 0;
  for (const auto& plan : r.regions) {
    if (limit > 0 && shown++ >= limit) {
      std::printf("... %zu more region(s); use --limit 0 or --json\n",
                  r.regions.size() - static_cast<size_t>(limit));
      break;
    }
    std::printf("%-16s %10.6g %9.2f %9.2f %7.4f  %-40s %s%s\n", g.region(plan.region).name.c_str(),
                plan.demand, plan.cost_ms, plan.current_cost_ms, plan.moved,
                WeightsText(g, plan).c_str(), CurrentText(g, plan.region).c_str(),
                plan.unmeasured ? "  (unmeasured)" : "");
  }
}

void SetupOptimize(CLI::App& app) {
  auto args = std::make_shared<OptimizeArgs>();
  auto* cmd = app.add_subcommand("optimize", "Compute weights from a graph snapshot");
  cmd->add_option("--input", args->input, "Snapshot JSON (vantage.snapshot.v1)")->required();
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_option("--limit", args->limit, "Regions shown in the table (0 = all)")
      ->capture_default_str();
  args->options.AddTo(cmd);
  cmd->callback([args] {
    auto g = vantage::graph::ReadSnapshotFile(args->input);
    if (!g.ok()) {
      std::fprintf(stderr, "vantagectl optimize: %s\n", std::string(g.status().message()).c_str());
      vantagectl::SetExitCode(1);
      return;
    }
    auto r = vantage::optimizer::Optimize(*g, args->options.Config(), g->snapshot_time());
    if (!r.ok()) {
      std::fprintf(stderr, "vantagectl optimize: %s\n", std::string(r.status().message()).c_str());
      vantagectl::SetExitCode(1);
      return;
    }
    if (args->json) {
      std::fputs(vantage::optimizer::OptimizationResultToJson(*g, *r).c_str(), stdout);
    } else {
      PrintTables(*g, *r, args->limit);
    }
  });
}

VANTAGECTL_COMMAND(SetupOptimize);

}  // namespace
