// `vantagectl generate --regions N --pops P [--seed S] --output FILE`: a
// realistic synthetic snapshot (see graph/instance_generator.h).
#include <cstdio>
#include <memory>
#include <string>

#include "graph/instance_generator.h"
#include "graph/snapshot_json.h"
#include "tools/vantagectl/command.h"

namespace {

struct GenerateArgs {
  vantage::graph::InstanceConfig config;
  std::string output = "-";
};

void SetupGenerate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Write a realistic synthetic graph snapshot");
  auto& c = args->config;
  cmd->add_option("--regions", c.regions, "Regions")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--pops", c.pops, "PoPs")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--paths", c.paths_per_region, "Measured PoPs per region (nearest)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--capacity-factor", c.capacity_factor, "Total capacity / total demand")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", c.seed, "PRNG seed")->capture_default_str();
  cmd->add_flag("--current-weights", c.with_current_weights,
                "Give every region current weight 1 on its nearest PoP");
  cmd->add_option("--output,-o", args->output, "Output file ('-' = stdout)")->capture_default_str();
  cmd->callback([args] {
    const vantage::graph::AnycastGraph g = vantage::graph::GenerateInstance(args->config);
    if (args->output == "-") {
      std::fputs(vantage::graph::SnapshotToJson(g).c_str(), stdout);
      return;
    }
    if (auto s = vantage::graph::WriteSnapshotFile(g, args->output); !s.ok()) {
      std::fprintf(stderr, "vantagectl generate: %s\n", std::string(s.message()).c_str());
      vantagectl::SetExitCode(1);
    }
  });
}

VANTAGECTL_COMMAND(SetupGenerate);

}  // namespace
