#include "lab/bgp_daemons.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/status_macros.h"
#include "nlohmann/json.hpp"

namespace vantage::lab {

std::string ZebraConfig(const BgpDaemonsConfig&) {
  return "hostname router\n"
         "log stdout\n";
}

std::string BgpdConfig(const BgpDaemonsConfig& c) {
  std::string out =
      absl::StrCat("frr defaults traditional\nhostname router\nlog stdout\nrouter bgp ",
                   c.router_asn, "\n bgp router-id ", c.router_id.ToString(),
                   "\n no bgp ebgp-requires-policy\n bgp bestpath as-path multipath-relax\n");
  for (const BgpSession& s : c.sessions) {
    const std::string n = s.speaker_address.ToString();
    absl::StrAppend(&out, " neighbor ", n, " remote-as ", s.speaker_asn, "\n neighbor ", n,
                    " update-source ", s.router_address.ToString(), "\n neighbor ", n,
                    " disable-connected-check\n neighbor ", n, " timers connect 1\n");
  }
  absl::StrAppend(&out, " address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n",
                  " address-family ipv6 unicast\n");
  for (const BgpSession& s : c.sessions) {
    absl::StrAppend(&out, "  neighbor ", s.speaker_address.ToString(), " activate\n");
  }
  absl::StrAppend(&out, "  maximum-paths 8\n exit-address-family\n");
  return out;
}

std::string ExabgpConfig(const BgpDaemonsConfig& c) {
  std::string out =
      absl::StrCat("process vantage {\n  run ", c.relay_command, ";\n  encoder text;\n}\n");
  for (const BgpSession& s : c.sessions) {
    absl::StrAppend(&out, "neighbor ", s.router_address.ToString(), " {\n  router-id ",
                    s.speaker_address.ToString(), ";\n  local-address ",
                    s.speaker_address.ToString(), ";\n  local-as ", s.speaker_asn, ";\n  peer-as ",
                    c.router_asn,
                    ";\n  family { ipv4 unicast; ipv6 unicast; }\n"
                    "  api { processes [ vantage ]; }\n}\n");
  }
  return out;
}

absl::StatusOr<std::vector<DaemonCommand>> PrepareBgpDaemons(const BgpDaemonsConfig& c,
                                                             CommandRunner* runner) {
  if (c.dir.empty() || c.router_ns.empty() || c.speaker_ns.empty() || c.sessions.empty() ||
      c.relay_command.empty()) {
    return absl::InvalidArgumentError("bgp daemons: dir, namespaces, sessions and relay needed");
  }
  std::error_code ec;
  std::filesystem::create_directories(c.dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", c.dir, ": ", ec.message()));
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"zebra.conf", ZebraConfig(c)},
        {"bgpd.conf", BgpdConfig(c)},
        {"exabgp.conf", ExabgpConfig(c)}}) {
    std::ofstream out(c.dir + "/" + name);
    out << text;
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", c.dir, "/", name));
  }
  VANTAGE_ASSIGN_OR_RETURN(CommandResult chown,
                           runner->Run({"chown", "-R", "frr:frr", c.dir}, absl::Seconds(10)));
  if (chown.exit_code != 0) {
    return absl::InternalError(absl::StrCat("chown frr ", c.dir, ": ", chown.output));
  }
  const std::string& d = c.dir;
  std::vector<DaemonCommand> out;
  out.push_back({"zebra",
                 {"ip", "netns", "exec", c.router_ns, c.frr_dir + "/zebra", "-i", d + "/zebra.pid",
                  "-z", d + "/zserv.api", "--vty_socket", d, "-f", d + "/zebra.conf"},
                 d + "/zebra.log"});
  out.push_back({"bgpd",
                 {"ip", "netns", "exec", c.router_ns, c.frr_dir + "/bgpd", "-i", d + "/bgpd.pid",
                  "-z", d + "/zserv.api", "--vty_socket", d, "-f", d + "/bgpd.conf"},
                 d + "/bgpd.log"});
  out.push_back({"exabgp",
                 {"ip", "netns", "exec", c.speaker_ns, "env", "exabgp.daemon.user=root",
                  "exabgp.daemon.daemonize=false", "exabgp.log.destination=stdout", "exabgp",
                  d + "/exabgp.conf"},
                 d + "/exabgp.log"});
  return out;
}

absl::Status WaitForZebra(const BgpDaemonsConfig& c, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (access((c.dir + "/zserv.api").c_str(), F_OK) != 0) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("zebra did not create ", c.dir, "/zserv.api (see zebra.log)"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int>> ReadFibWeights(CommandRunner* runner,
                                                          const std::string& ns,
                                                          const std::string& prefix) {
  const bool v6 = prefix.find(':') != std::string::npos;
  VANTAGE_ASSIGN_OR_RETURN(
      CommandResult r,
      runner->Run({"ip", "-n", ns, v6 ? "-6" : "-4", "route", "show", prefix}, absl::Seconds(5)));
  if (r.exit_code != 0) return absl::InternalError(absl::StrCat("ip route show: ", r.output));
  std::map<std::string, int> fib;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    std::vector<absl::string_view> w = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] != "via") continue;
      int weight = 1;
      for (size_t j = i; j + 1 < w.size(); ++j) {
        if (w[j] == "weight") (void)absl::SimpleAtoi(w[j + 1], &weight);
      }
      fib[std::string(w[i + 1])] = weight;
    }
  }
  return fib;
}

absl::StatusOr<std::map<std::string, uint64_t>> ReadLinkBandwidths(CommandRunner* runner,
                                                                   const std::string& dir,
                                                                   const std::string& prefix) {
  const std::string afi = prefix.find(':') != std::string::npos ? "ipv6" : "ipv4";
  VANTAGE_ASSIGN_OR_RETURN(
      CommandResult r, runner->Run({"vtysh", "--vty_socket", dir, "-c",
                                    absl::StrCat("show bgp ", afi, " unicast ", prefix, " json")},
                                   absl::Seconds(5)));
  std::map<std::string, uint64_t> bw;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  if (j.is_discarded()) return absl::InternalError(absl::StrCat("vtysh: ", r.output));
  if (!j.contains("paths")) return bw;
  for (const auto& p : j["paths"]) {
    // "LB:65001:750000 (6.000 Mbps)"
    std::string ec = p.value("extendedCommunity", nlohmann::json::object()).value("string", "");
    std::vector<std::string> parts = absl::StrSplit(ec, absl::ByAnyChar(": "));
    uint64_t v = 0;
    if (parts.size() >= 3 && parts[0] == "LB") (void)absl::SimpleAtoi(parts[2], &v);
    if (p.contains("nexthops") && !p["nexthops"].empty()) {
      bw[p["nexthops"][0].value("ip", std::string())] = v;
    }
  }
  return bw;
}

void StopProcess(pid_t pid, absl::Duration grace) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    const pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || (r < 0 && kill(pid, 0) != 0)) return;
    absl::SleepFor(absl::Milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

absl::StatusOr<std::unique_ptr<BgpDaemons>> BgpDaemons::Start(BgpDaemonsConfig config,
                                                              CommandRunner* runner) {
  std::unique_ptr<BgpDaemons> d(new BgpDaemons(std::move(config), runner));
  VANTAGE_ASSIGN_OR_RETURN(d->commands_, PrepareBgpDaemons(d->config_, runner));
  for (const DaemonCommand& c : d->commands_) {
    if (c.role == "exabgp") {
      VANTAGE_RETURN_IF_ERROR(d->StartExabgp());
      continue;
    }
    VANTAGE_ASSIGN_OR_RETURN(pid_t pid, runner->Spawn(c.argv, c.log));
    d->pids_[c.role] = pid;
    if (c.role == "zebra") VANTAGE_RETURN_IF_ERROR(WaitForZebra(d->config_, absl::Seconds(10)));
  }
  return d;
}

BgpDaemons::~BgpDaemons() { Stop(); }

absl::Status BgpDaemons::StartExabgp() {
  for (const DaemonCommand& c : commands_) {
    if (c.role != "exabgp") continue;
    VANTAGE_ASSIGN_OR_RETURN(pid_t pid, runner_->Spawn(c.argv, c.log));
    pids_["exabgp"] = pid;
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError("no exabgp command");
}

void BgpDaemons::StopExabgp() {
  auto it = pids_.find("exabgp");
  if (it == pids_.end()) return;
  StopProcess(it->second, absl::Seconds(3));
  pids_.erase(it);
}

void BgpDaemons::Stop() {
  StopExabgp();
  for (const char* role : {"bgpd", "zebra"}) {
    auto it = pids_.find(role);
    if (it == pids_.end()) continue;
    StopProcess(it->second, absl::Seconds(3));
    pids_.erase(it);
  }
}

}  // namespace vantage::lab
