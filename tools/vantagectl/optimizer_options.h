// Flags shared by the vantagectl commands that run the optimizer (optimize,
// whatif): they map 1:1 onto OptimizerConfig, whose defaults they keep.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "optimizer/weight_optimizer.h"

namespace vantagectl {

struct OptimizerOptions {
  vantage::optimizer::OptimizerConfig config;
  bool no_n1 = false;

  void AddTo(CLI::App* cmd) {
    cmd->add_option("--ceiling", config.utilisation_ceiling, "Utilisation ceiling (0, 1]")
        ->capture_default_str();
    cmd->add_option("--candidates", config.candidates_per_region,
                    "K: best PoPs considered per region (0 = all)")
        ->capture_default_str();
    cmd->add_option("--stability-ms", config.stability_cost_ms,
                    "Cost (ms) of moving a unit of traffic")
        ->capture_default_str();
    cmd->add_option("--max-change", config.max_weight_change, "Max weight change per PoP (0, 1]")
        ->capture_default_str();
    cmd->add_option("--min-move", config.min_weight_move,
                    "Region moves smaller than this are not made")
        ->capture_default_str();
    cmd->add_option("--denominator", config.weight_denominator, "Weight quantum = 1/denominator")
        ->capture_default_str();
    cmd->add_flag("--no-n1", no_n1, "Do not reserve N-1 headroom");
  }

  vantage::optimizer::OptimizerConfig Config() const {
    vantage::optimizer::OptimizerConfig c = config;
    c.n1_headroom = !no_n1;
    return c;
  }
};

}  // namespace vantagectl
