// `vantagectl graph --input snapshot.json [--dot|--json]`: inspect a snapshot.
#include <cstdio>
#include <memory>
#include <string>

#include "graph/snapshot_json.h"
#include "tools/vantagectl/command.h"

namespace {

struct GraphArgs {
  std::string input;
  bool dot = false;
  bool json = false;
};

void SetupGraph(CLI::App& app) {
  auto args = std::make_shared<GraphArgs>();
  auto* cmd = app.add_subcommand("graph", "Inspect a graph snapshot (summary, DOT or JSON)");
  cmd->add_option("--input", args->input, "Snapshot JSON (vantage.snapshot.v1)")->required();
  auto* dot = cmd->add_flag("--dot", args->dot, "Graphviz DOT (render with: dot -Tsvg)");
  auto* json = cmd->add_flag("--json", args->json, "The snapshot, validated and normalised");
  dot->excludes(json);
  cmd->callback([args] {
    auto g = vantage::graph::ReadSnapshotFile(args->input);
    if (!g.ok()) {
      std::fprintf(stderr, "vantagectl graph: %s\n", std::string(g.status().message()).c_str());
      vantagectl::SetExitCode(1);
      return;
    }
    if (args->dot) {
      std::fputs(g->ToDot().c_str(), stdout);
      return;
    }
    if (args->json) {
      std::fputs(vantage::graph::SnapshotToJson(*g).c_str(), stdout);
      return;
    }
    double capacity = 0, demand = 0;
    int healthy = 0;
    for (vantage::graph::PopId p = 0; p < g->pop_count(); ++p) {
      capacity += g->pop(p).capacity;
      healthy += g->pop(p).healthy ? 1 : 0;
    }
    for (vantage::graph::RegionId r = 0; r < g->region_count(); ++r) demand += g->region(r).demand;
    std::printf("pops %d (%d healthy), regions %d, measured paths %zu\n", g->pop_count(), healthy,
                g->region_count(), g->path_count());
    std::printf("capacity %.6g, demand %.6g\n", capacity, demand);
    std::printf("\n%-12s %-7s %12s %12s %8s\n", "POP", "HEALTH", "CAPACITY", "LOAD", "PATHS");
    std::vector<int> paths(static_cast<size_t>(g->pop_count()), 0);
    for (const auto* path : g->AllPaths()) ++paths[static_cast<size_t>(path->pop)];
    for (vantage::graph::PopId p = 0; p < g->pop_count(); ++p) {
      const auto& pop = g->pop(p);
      std::printf("%-12s %-7s %12.6g %12.6g %8d\n", pop.name.c_str(), pop.healthy ? "up" : "DOWN",
                  pop.capacity, pop.load, paths[static_cast<size_t>(p)]);
    }
  });
}

VANTAGECTL_COMMAND(SetupGraph);

}  // namespace
