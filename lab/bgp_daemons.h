// BgpDaemons: FRR (zebra + bgpd) as the router and ExaBGP as the PoPs' BGP
// speaker, in network namespaces the caller made — the set-up shared by the
// push integration test, the collector's closed-loop integration test and
// `vantage-lab bgp` (the lab demo). ExaBGP runs `relay_command` as its API
// process (vantage-exabgp-relay, which connects to the collector's
// ExabgpAdapter socket).
//
// FRR is configured as issue 9 asks: `no bgp ebgp-requires-policy`,
// `bgp bestpath as-path multipath-relax`, `maximum-paths 8` (v4 and v6),
// one eBGP neighbor per session with `disable-connected-check` (sessions may
// run between /32s on the loopback) and IPv6 unicast activated on the IPv4
// sessions. Two platform facts shape the set-up (FRR 8.4):
//   - the FIB gets link-bandwidth weights only when the next hops are on a
//     connected subnet; a next hop resolved recursively (e.g. through a
//     default route) is installed with weight 1. Callers must make every PoP
//     next hop connected in the router namespace.
//   - the link-bandwidth value is an IEEE-754 single: about 7 significant
//     digits survive (999,755,859 B/s arrives as 999,755,840).
//
// Processes run in the foreground (FRR without -d) so their pids are ours:
// BgpDaemons owns them and stops them (SIGTERM, then SIGKILL) on Stop() or
// destruction; LabController records them in its run state instead.
//
// Thread model: one thread; methods block for at most a few seconds.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "lab/command_runner.h"

namespace vantage::lab {

struct BgpSession {
  std::string pop{};            // a label (the PoP this session announces for)
  IpAddress router_address{};   // FRR's end: ExaBGP's `neighbor` (per-neighbor targeting)
  IpAddress speaker_address{};  // ExaBGP's end (local-address, router-id)
  uint32_t speaker_asn = 65001;
};

struct BgpDaemonsConfig {
  std::string dir{};         // configs, pid files, vty and zserv sockets, logs
  std::string router_ns{};   // FRR runs here
  std::string speaker_ns{};  // ExaBGP runs here (may be router_ns)
  uint32_t router_asn = 65000;
  IpAddress router_id{};
  std::vector<BgpSession> sessions{};
  std::string relay_command{};  // ExaBGP's API process, one shell command line
  std::string frr_dir = "/usr/lib/frr";
};

std::string ZebraConfig(const BgpDaemonsConfig& config);
std::string BgpdConfig(const BgpDaemonsConfig& config);
std::string ExabgpConfig(const BgpDaemonsConfig& config);

struct DaemonCommand {
  std::string role{};  // "zebra", "bgpd", "exabgp"
  std::vector<std::string> argv{};
  std::string log{};
};

// Writes the three configs into config.dir (created; owned by user frr, as
// FRR drops to it) and returns the daemons' commands in start order. Start
// bgpd only once WaitForZebra() succeeded.
absl::StatusOr<std::vector<DaemonCommand>> PrepareBgpDaemons(const BgpDaemonsConfig& config,
                                                             CommandRunner* runner);
absl::Status WaitForZebra(const BgpDaemonsConfig& config, absl::Duration timeout);

// Next hop -> weight of `prefix` in namespace `ns`'s kernel FIB (`ip route
// show`); a single-path route has weight 1; no route: empty.
absl::StatusOr<std::map<std::string, int>> ReadFibWeights(CommandRunner* runner,
                                                          const std::string& ns,
                                                          const std::string& prefix);
// Next hop -> link-bandwidth (bytes/s) of the BGP paths for `prefix`, from
// `vtysh --vty_socket <dir> -c 'show bgp <afi> unicast <prefix> json'`.
absl::StatusOr<std::map<std::string, uint64_t>> ReadLinkBandwidths(CommandRunner* runner,
                                                                   const std::string& dir,
                                                                   const std::string& prefix);

class BgpDaemons {
 public:
  // Prepares and starts zebra, bgpd and ExaBGP; on failure stops what started.
  static absl::StatusOr<std::unique_ptr<BgpDaemons>> Start(BgpDaemonsConfig config,
                                                           CommandRunner* runner);
  ~BgpDaemons();
  BgpDaemons(const BgpDaemons&) = delete;
  BgpDaemons& operator=(const BgpDaemons&) = delete;

  absl::Status StartExabgp();
  void StopExabgp();
  void Stop();
  const BgpDaemonsConfig& config() const { return config_; }

 private:
  BgpDaemons(BgpDaemonsConfig config, CommandRunner* runner)
      : config_(std::move(config)), runner_(runner) {}

  BgpDaemonsConfig config_;
  CommandRunner* runner_;
  std::vector<DaemonCommand> commands_;
  std::map<std::string, pid_t> pids_;  // by role
};

// SIGTERM, then SIGKILL after `grace`; reaps it when it is our child.
void StopProcess(pid_t pid, absl::Duration grace);

}  // namespace vantage::lab
