// LabController: `vantage-lab up | down | status` and the control requests,
// as a library. It creates the namespaces, starts the emulator process, the
// nsd and TCP listener of every PoP, and records each before making it in the
// run directory's state file; Down() reads that file and removes everything
// it names, whether the previous run ended cleanly or not.
//
// Thread model: one controller per thread; methods block (bounded by
// timeouts of at most a few seconds each).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lab/bgp_daemons.h"
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

// The lab's BGP set-up (`vantage-lab bgp`): FRR and ExaBGP both in the
// router namespace, one eBGP session per PoP between /32s on the router's
// loopback in 198.18.254.0/24 (PoP i: FRR 198.18.254.<4i+1>, ExaBGP
// <4i+2>, AS 65001+i; FRR is AS 65000), announcing the PoP's first IPv4 and
// IPv6 address as next hops. FRR installs link-bandwidth weights only for
// connected next hops, so the router's TUN gets one address per next-hop
// subnet: .254 in the /24 (IPv4) and ::fffe in the /64 (IPv6) of each
// next hop. Errors: a topology address inside 198.18.254.0/24 or equal to
// one of those connected addresses, more than 63 PoPs.
struct LabBgpPlan {
  struct PopSession {
    std::string pop;
    BgpSession session;
    std::optional<IpAddress> next_hop_v4;
    std::optional<IpAddress> next_hop_v6;
  };
  std::vector<PopSession> pops;
  std::vector<std::string> connected;  // "198.18.1.254/24", "2001:db8:1::fffe/64"
  uint32_t router_asn = 65000;
  nlohmann::json ToJson() const;
};
absl::StatusOr<LabBgpPlan> PlanLabBgp(const Topology& topology);

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
  // Starts FRR and ExaBGP (running `relay_command` as its API process) in
  // the running lab's router namespace as PlanLabBgp says; records the
  // processes so that Down() stops them; writes <run dir>/bgp/plan.json,
  // which Status() reports as "bgp".
  [[nodiscard]] absl::Status StartBgp(const std::string& relay_command);
  // The router namespace's FIB for `prefix`: next hop -> weight.
  absl::StatusOr<std::map<std::string, int>> Fib(const std::string& prefix);
  // The running lab's namespace of `node` (from its recorded prefix).
  absl::StatusOr<std::string> RunningNamespaceOf(const std::string& node);
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
