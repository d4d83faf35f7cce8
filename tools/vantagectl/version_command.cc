// `vantagectl version`: what build this is.
#include <cstdio>

#include "tools/vantagectl/command.h"

namespace {

void SetupVersion(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print vantagectl's version");
  cmd->callback([] { std::printf("vantagectl 0.1.0\n"); });
}

VANTAGECTL_COMMAND(SetupVersion);

}  // namespace
