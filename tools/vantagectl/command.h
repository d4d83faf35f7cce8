// vantagectl's subcommands register themselves: each `*_command.cc` in this
// folder defines a setup function that adds one CLI11 subcommand, and
// registers it with VANTAGECTL_COMMAND. tools/CMakeLists.txt globs the files,
// so commands land without touching main.cc.
//
// A subcommand's callback sets the process exit code through SetExitCode()
// (0 ok, 1 failure, 2 usage error) and prints errors to stderr.
#pragma once

#include <CLI/CLI.hpp>

namespace vantagectl {

using CommandSetup = void (*)(CLI::App& app);

bool RegisterCommand(CommandSetup setup);
void SetExitCode(int code);

}  // namespace vantagectl

#define VANTAGECTL_COMMAND(setup)                                    \
  [[maybe_unused]] static const bool vantagectl_registered_##setup = \
      ::vantagectl::RegisterCommand(&setup)
