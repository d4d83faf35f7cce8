// LabController: `vantage-lab up | down | status` and the control requests,
// as a library. It creates the namespaces, starts the emulator process, the
// nsd and TCP listener of every PoP, and records each before making it in the
// run directory's state file; Down() reads that file and removes everything
// it names, whether the previous run ended cleanly or not.
//
// Thread model: one controller per thread; methods block (bounded by
// timeouts of at most a few seconds each).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lab/command_runner.h"
#include "lab/run_state.h"
#include "lab/topology.h"

namespace vantage::lab {

struct LabOptions {
  std::string run_dir = "/run/vantage-lab";
  std::string prefix = "vt-";
  // The vantage-lab binary: `up` runs its `emulate` and `tcp-listen` modes.
  std::string self_exe;
  std::string tun_name = "vt0";
  uint64_t seed = 1;
};

class LabController {
 public:
  LabController(LabOptions options, CommandRunner* runner);

  // Brings the lab up; on failure removes whatever it made and returns the
  // error (with the emulator's log when that is what failed).
  [[nodiscard]] absl::Status Up(const std::string& topology_path);
  // Removes everything the state file names. OK when there is no lab.
  [[nodiscard]] absl::Status Down();
  // Namespaces, processes and the emulator's own status, as JSON.
  absl::StatusOr<nlohmann::json> Status();
  // Sends one control request to the running emulator; returns its answer
  // when it says ok, an error otherwise.
  absl::StatusOr<nlohmann::json> Control(const nlohmann::json& request);

  std::string state_path() const { return options_.run_dir + "/state.json"; }
  std::string control_path() const { return options_.run_dir + "/control.sock"; }
  std::string NamespaceOf(const std::string& node) const { return options_.prefix + node; }

 private:
  absl::Status UpSteps(const std::string& topology_path, RunState* state);
  absl::Status StartProcess(RunState* state, const std::string& role, const std::string& node,
                            const std::vector<std::string>& argv, const std::string& log);
  absl::Status WaitForEmulator(const RunState& state);
  absl::Status WaitForPaths(const Topology& topology);
  absl::Status WaitForServices(const Topology& topology, const RunState& state);
  std::string Tail(const std::string& path) const;

  LabOptions options_;
  CommandRunner* runner_;
};

}  // namespace vantage::lab
