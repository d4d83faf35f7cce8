// `vantagectl whatif --input snapshot.json --fail-pop NAME [--capacity POP=X]
// [--degrade POP:REGION=MS[/LOSS]] [--demand REGION=X] [--json]`: predicted
// per-PoP load and per-region cost change, before and after re-optimising.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "graph/snapshot_json.h"
#include "optimizer/result_json.h"
#include "optimizer/what_if.h"
#include "tools/vantagectl/command.h"
#include "tools/vantagectl/optimizer_options.h"

namespace {

using vantage::optimizer::Scenario;

struct WhatIfArgs {
  std::string input;
  std::vector<std::string> fail;
  std::vector<std::string> capacity;
  std::vector<std::string> degrade;
  std::vector<std::string> demand;
  bool json = false;
  int limit = 20;
  vantagectl::OptimizerOptions options;
};

absl::Status ParseKeyValue(const std::string& text, std::string* key, double* value) {
  std::vector<std::string> kv = absl::StrSplit(text, absl::MaxSplits('=', 1));
  if (kv.size() != 2 || kv[0].empty() || !absl::SimpleAtod(kv[1], value)) {
    return absl::InvalidArgumentError(absl::StrCat("expected NAME=NUMBER, got '", text, "'"));
  }
  *key = kv[0];
  return absl::OkStatus();
}

absl::StatusOr<Scenario> BuildScenario(const WhatIfArgs& a) {
  Scenario s;
  s.failed_pops = a.fail;
  for (const std::string& c : a.capacity) {
    Scenario::CapacityChange change;
    if (auto st = ParseKeyValue(c, &change.pop, &change.capacity); !st.ok()) return st;
    s.capacities.push_back(change);
  }
  for (const std::string& d : a.demand) {
    Scenario::DemandChange change;
    if (auto st = ParseKeyValue(d, &change.region, &change.demand); !st.ok()) return st;
    s.demands.push_back(change);
  }
  for (const std::string& d : a.degrade) {
    // POP:REGION=MS[/LOSS]
    std::vector<std::string> kv = absl::StrSplit(d, absl::MaxSplits('=', 1));
    std::vector<std::string> ends =
        kv.empty() ? std::vector<std::string>{} : absl::StrSplit(kv[0], absl::MaxSplits(':', 1));
    Scenario::Degradation deg;
    bool ok = kv.size() == 2 && ends.size() == 2 && !ends[0].empty() && !ends[1].empty();
    if (ok) {
      deg.pop = ends[0];
      deg.region = ends[1];
      std::vector<std::string> parts = absl::StrSplit(kv[1], absl::MaxSplits('/', 1));
      ok = absl::SimpleAtod(parts[0], &deg.add_ms) &&
           (parts.size() == 1 || absl::SimpleAtod(parts[1], &deg.add_loss));
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--degrade expects POP:REGION=MS[/LOSS] (e.g. ams:nl=+20/0.01), got '", d, "'"));
    }
    s.degradations.push_back(deg);
  }
  if (s.failed_pops.empty() && s.capacities.empty() && s.degradations.empty() &&
      s.demands.empty()) {
    return absl::InvalidArgumentError(
        "nothing to simulate: give --fail-pop, --capacity, --degrade or --demand");
  }
  return s;
}

void SetupWhatIf(CLI::App& app) {
  auto args = std::make_shared<WhatIfArgs>();
  auto* cmd = app.add_subcommand("whatif", "Predict the effect of failures and changes");
  cmd->add_option("--input", args->input, "Snapshot JSON (vantage.snapshot.v1)")->required();
  cmd->add_option("--fail-pop", args->fail, "PoP that fails (repeatable)");
  cmd->add_option("--capacity", args->capacity, "POP=CAPACITY (repeatable)");
  cmd->add_option("--degrade", args->degrade, "POP:REGION=MS[/LOSS]: add RTT and loss");
  cmd->add_option("--demand", args->demand, "REGION=DEMAND (repeatable)");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_option("--limit", args->limit, "Regions shown (largest cost change first; 0 = all)")
      ->capture_default_str();
  args->options.AddTo(cmd);
  cmd->callback([args] {
    auto scenario = BuildScenario(*args);
    if (!scenario.ok()) {
      std::fprintf(stderr, "vantagectl whatif: %s\n",
                   std::string(scenario.status().message()).c_str());
      vantagectl::SetExitCode(2);
      return;
    }
    auto g = vantage::graph::ReadSnapshotFile(args->input);
    if (!g.ok()) {
      std::fprintf(stderr, "vantagectl whatif: %s\n", std::string(g.status().message()).c_str());
      vantagectl::SetExitCode(1);
      return;
    }
    auto r = vantage::optimizer::WhatIf(*g, *scenario, args->options.Config(), g->snapshot_time());
    if (!r.ok()) {
      std::fprintf(stderr, "vantagectl whatif: %s\n", std::string(r.status().message()).c_str());
      vantagectl::SetExitCode(1);
      return;
    }
    if (args->json) {
      std::fputs(vantage::optimizer::WhatIfResultToJson(*g, *r).c_str(), stdout);
      return;
    }
    std::printf(
        "objective (demand x ms): before %.6g, immediately %.6g, after re-optimising %.6g\n",
        r->objective_before, r->objective_immediate, r->objective_after);
    for (const std::string& n : r->after.notes) std::printf("note: %s\n", n.c_str());
    // IMMEDIATE: today's weights in the changed world (a failed PoP's share
    // spread as weighted ECMP does), against the changed ceiling.
    std::printf("\n%-12s %12s %12s %12s %8s %12s %12s\n", "POP", "CEILING", "LOAD_BEFORE",
                "IMMEDIATE", "IMM/CEIL", "AFTER", "NEW_CEILING");
    int over_count = 0;
    for (const auto& p : r->pops) {
      const bool over = p.load_immediate > p.ceiling_after * (1 + 1e-9) + 1e-9;
      over_count += over ? 1 : 0;
      const std::string ratio =
          p.ceiling_after > 0 ? absl::StrFormat("%.1f%%", 100 * p.load_immediate / p.ceiling_after)
                              : std::string(p.load_immediate > 0 ? "inf" : "-");
      std::printf(
          "%-12s %12.6g %12.6g %12.6g %8s %12.6g %12.6g%s\n", g->pop(p.pop).name.c_str(),
          p.ceiling_before, p.load_before, p.load_immediate, ratio.c_str(), p.load_after,
          p.ceiling_after,
          over ? absl::StrFormat("  OVER by %.6g (immediately)", p.load_immediate - p.ceiling_after)
                     .c_str()
               : "");
    }
    std::printf("immediately after the change: %d PoP(s) over their ceiling%s\n", over_count,
                over_count > 0 ? " until the weights are re-optimised" : "");
    std::vector<vantage::optimizer::RegionImpact> regions = r->regions;
    std::stable_sort(regions.begin(), regions.end(), [](const auto& a, const auto& b) {
      return std::fabs(a.cost_after - a.cost_before) > std::fabs(b.cost_after - b.cost_before);
    });
    std::printf("\n%-16s %10s %10s %10s %10s\n", "REGION", "COST_MS", "IMMEDIATE", "AFTER",
                "CHANGE");
    int shown = 0;
    for (const auto& ri : regions) {
      if (args->limit > 0 && shown++ >= args->limit) break;
      std::printf("%-16s %10.2f %10s %10.2f %+10.2f\n", g->region(ri.region).name.c_str(),
                  ri.cost_before,
                  ri.cost_immediate < 0 ? "LOST" : absl::StrCat(ri.cost_immediate).c_str(),
                  ri.cost_after, ri.cost_after - ri.cost_before);
    }
  });
}

VANTAGECTL_COMMAND(SetupWhatIf);

}  // namespace
