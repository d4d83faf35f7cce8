// RunEmulatorDaemon: the body of the emulator process that `vantage-lab up`
// starts (`vantage-lab emulate`). It opens a TUN device in every node's
// namespace (which must exist), gives the namespaces their addresses and
// default routes through that device, then runs the Emulator and its control
// socket (<run dir>/control.sock) until SIGTERM, SIGINT or SIGHUP. When it
// ends, for whatever reason, its TUN devices disappear with it.
//
// Thread model: runs on, and blocks, the calling thread; it changes the
// process' signal mask. Needs root (namespaces and TUN).
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "lab/command_runner.h"

namespace vantage::lab {

struct EmulatorDaemonOptions {
  std::string topology_path;
  std::string prefix = "vt-";
  std::string run_dir;
  std::string tun_name = "vt0";
  uint64_t seed = 1;
  // Run the data path at a low real-time priority (SCHED_FIFO 10) so that a
  // busy machine does not add scheduling delay to the emulated links.
  // Best effort: without the privilege it runs as a normal process.
  bool realtime = true;
};

[[nodiscard]] absl::Status RunEmulatorDaemon(const EmulatorDaemonOptions& options,
                                             CommandRunner* runner);

}  // namespace vantage::lab
