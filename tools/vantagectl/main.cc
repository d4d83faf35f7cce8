// vantagectl: one-shot measurement, optimisation and inspection commands for
// engineers; every command prints a table, or JSON with --json.
#include <vector>

#include "tools/vantagectl/command.h"

namespace vantagectl {
namespace {

std::vector<CommandSetup>& Registry() {
  static std::vector<CommandSetup> registry;
  return registry;
}

int exit_code = 0;

}  // namespace

bool RegisterCommand(CommandSetup setup) {
  Registry().push_back(setup);
  return true;
}

void SetExitCode(int code) { exit_code = code; }

}  // namespace vantagectl

int main(int argc, char** argv) {
  CLI::App app{
      "vantagectl: measure, optimise and inspect a Vantage anycast deployment.\n"
      "Run 'vantagectl <command> --help' for a command's options."};
  app.require_subcommand(1);
  for (auto setup : vantagectl::Registry()) setup(app);
  CLI11_PARSE(app, argc, argv);
  return vantagectl::exit_code;
}
