// `vantagectl optimize --input snapshot.json [--json]`: weights per region,
// predicted PoP loads, objective and the diff against the snapshot's
// current weights.
#include <cstdio>
#include <memory>
#include <string>

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

void PrintTables(const AnycastGraph& g, const OptimizationResult& r, int limit) {
  std::printf("objective %.6g (demand x ms), LP %.10g, %lld pivots\n", r.objective, r.lp_objective,
              static_cast<long long>(r.pivots));
  std::printf("demand %.6g, ceiling capacity %.6g%s\n", r.total_demand, r.total_ceiling,
              r.demand_exceeds_capacity ? "  ** DEMAND EXCEEDS CAPACITY **" : "");
  if (r.n1_checked) {
    std::printf("N-1 headroom: %s (%zu violation(s), %d re-solve(s))\n",
                r.n1_satisfied ? "ok" : "NOT MET", r.n1_violations.size(), r.n1_iterations);
  } else {
    std::printf("N-1 headroom: not checked\n");
  }
  for (const std::string& n : r.notes) std::printf("note: %s\n", n.c_str());
  std::printf("\n%-12s %-7s %12s %12s %12s %12s %7s\n", "POP", "HEALTH", "CAPACITY", "CEILING",
              "CUR_LOAD", "NEW_LOAD", "UTIL%");
  for (const auto& p : r.pops) {
    std::printf("%-12s %-7s %12.6g %12.6g %12.6g %12.6g %7.1f\n", g.pop(p.pop).name.c_str(),
                p.healthy ? "up" : "DOWN", p.capacity, p.ceiling, p.current_load, p.load,
                p.capacity > 0 ? 100 * p.load / p.capacity : 0.0);
  }
  for (const auto& v : r.n1_violations) {
    std::printf("N-1: if %s fails, %s carries %.6g > ceiling %.6g\n", g.pop(v.failed).name.c_str(),
                g.pop(v.overloaded).name.c_str(), v.load, v.ceiling);
  }
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
