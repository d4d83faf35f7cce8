#include "lab/lab_controller.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "core/clock.h"
#include "core/status_macros.h"
#include "lab/control_socket.h"
#include "lab/nsd_config.h"
#include "lab/routing_table.h"

namespace vantage::lab {
namespace {

namespace fs = std::filesystem;

bool NamespaceExists(const std::string& ns) {
  std::error_code ec;
  return fs::exists(fs::path("/run/netns") / ns, ec);
}

bool Alive(const RecordedProcess& p) {
  if (p.pid <= 0) return false;
  // Reap it if it is our own child that already ended.
  waitpid(p.pid, nullptr, WNOHANG);
  const uint64_t start = ProcessStartTime(p.pid);
  return start != 0 && start == p.start_time;
}

// Waits until none of `procs` is alive or `timeout` passes.
bool WaitGone(const std::vector<RecordedProcess>& procs, absl::Duration timeout) {
  const absl::Time deadline = RealClock::Get().MonotonicNow() + timeout;
  while (true) {
    bool any = false;
    for (const RecordedProcess& p : procs) any = any || Alive(p);
    if (!any) return true;
    if (RealClock::Get().MonotonicNow() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::string FirstAddressOf(const std::vector<IpAddress>& addresses) {
  for (const IpAddress& a : addresses) {
    if (a.is_v4()) return a.ToString();
  }
  return addresses.front().ToString();
}

}  // namespace

LabController::LabController(LabOptions options, CommandRunner* runner)
    : options_(std::move(options)), runner_(runner) {}

std::string LabController::Tail(const std::string& path) const {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (s.size() > 2000) s = s.substr(s.size() - 2000);
  return s;
}

absl::Status LabController::Up(const std::string& topology_path) {
  if (fs::exists(state_path())) {
    return absl::AlreadyExistsError(absl::StrCat("a lab is already recorded in ", options_.run_dir,
                                                 "; run 'vantage-lab down' first"));
  }
  RunState state;
  absl::Status st = UpSteps(topology_path, &state);
  if (!st.ok() && fs::exists(state_path())) {
    absl::Status down = Down();
    if (!down.ok())
      st = absl::Status(st.code(), absl::StrCat(st.message(), "; cleanup: ", down.message()));
  }
  return st;
}

absl::Status LabController::StartProcess(RunState* state, const std::string& role,
                                         const std::string& node,
                                         const std::vector<std::string>& argv,
                                         const std::string& log) {
  VANTAGE_ASSIGN_OR_RETURN(pid_t pid, runner_->Spawn(argv, log));
  state->processes.push_back(RecordedProcess{role, node, pid, ProcessStartTime(pid)});
  return state->Save(state_path());
}

absl::Status LabController::UpSteps(const std::string& topology_path, RunState* state) {
  VANTAGE_ASSIGN_OR_RETURN(const Topology topology, LoadTopology(topology_path));
  if (options_.self_exe.empty()) return absl::InvalidArgumentError("self_exe is not set");
  const RoutingTable routing(topology);
  for (const LabNode& node : routing.nodes()) {
    if (NamespaceExists(NamespaceOf(node.name))) {
      return absl::AlreadyExistsError(absl::StrCat("network namespace ", NamespaceOf(node.name),
                                                   " already exists (another lab with prefix '",
                                                   options_.prefix, "'?)"));
    }
  }
  std::error_code ec;
  fs::create_directories(options_.run_dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("cannot create ", options_.run_dir, ": ", ec.message()));
  state->prefix = options_.prefix;
  state->topology_path = fs::absolute(topology_path).string();
  VANTAGE_RETURN_IF_ERROR(state->Save(state_path()));

  for (const LabNode& node : routing.nodes()) {
    const std::string ns = NamespaceOf(node.name);
    state->namespaces.push_back(ns);
    VANTAGE_RETURN_IF_ERROR(state->Save(state_path()));
    VANTAGE_ASSIGN_OR_RETURN(CommandResult r,
                             runner_->Run({"ip", "netns", "add", ns}, absl::Seconds(10)));
    if (r.exit_code != 0) {
      // Not ours after all (e.g. made by someone else since the check):
      // down must not remove it.
      state->namespaces.pop_back();
      VANTAGE_RETURN_IF_ERROR(state->Save(state_path()));
      return absl::InternalError(absl::StrCat("ip netns add ", ns, ": ", r.output));
    }
  }

  VANTAGE_RETURN_IF_ERROR(
      StartProcess(state, "emulator", "",
                   {options_.self_exe, "emulate", "--topology", state->topology_path, "--prefix",
                    options_.prefix, "--run-dir", options_.run_dir, "--tun", options_.tun_name,
                    "--seed", absl::StrCat(options_.seed)},
                   options_.run_dir + "/emulator.log"));
  VANTAGE_RETURN_IF_ERROR(WaitForEmulator(*state));
  VANTAGE_RETURN_IF_ERROR(WaitForPaths(topology));

  for (const Pop& pop : topology.pops) {
    const std::string ns = NamespaceOf(pop.name);
    if (!pop.services.empty()) {
      const std::string dir = absl::StrCat(options_.run_dir, "/nsd-", pop.name);
      fs::create_directories(dir, ec);
      {
        std::ofstream(dir + "/nsd.conf") << MakeNsdConfig(pop, topology.services, dir);
        std::ofstream(dir + "/" + NsdZoneFileName(topology.services))
            << MakeNsdZone(pop, topology.services);
      }
      VANTAGE_RETURN_IF_ERROR(StartProcess(
          state, "nsd", pop.name, {"ip", "netns", "exec", ns, "nsd", "-d", "-c", dir + "/nsd.conf"},
          dir + "/stdout.log"));
    }
    std::vector<std::string> argv = {"ip",
                                     "netns",
                                     "exec",
                                     ns,
                                     options_.self_exe,
                                     "tcp-listen",
                                     "--pop",
                                     pop.name,
                                     "--port",
                                     absl::StrCat(topology.services.tcp_port),
                                     "--ready-file",
                                     absl::StrCat(options_.run_dir, "/tcp-", pop.name, ".ready")};
    for (const IpAddress& a : pop.addresses) argv.insert(argv.end(), {"--address", a.ToString()});
    for (const IpAddress& a : pop.services) argv.insert(argv.end(), {"--address", a.ToString()});
    VANTAGE_RETURN_IF_ERROR(
        StartProcess(state, "tcp-listener", pop.name, argv,
                     absl::StrCat(options_.run_dir, "/tcp-", pop.name, ".log")));
  }
  return WaitForServices(topology, *state);
}

absl::Status LabController::WaitForEmulator(const RunState& state) {
  const RecordedProcess& emulator = state.processes.front();
  const absl::Time deadline = RealClock::Get().MonotonicNow() + absl::Seconds(20);
  while (RealClock::Get().MonotonicNow() < deadline) {
    if (!Alive(emulator)) {
      return absl::InternalError(absl::StrCat("the emulator exited during start-up:\n",
                                              Tail(options_.run_dir + "/emulator.log")));
    }
    if (SendControlRequest(control_path(), R"({"command":"status"})", absl::Seconds(1)).ok()) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat("the emulator did not come up in 20 s:\n",
                                                  Tail(options_.run_dir + "/emulator.log")));
}

// A fresh TUN device may drop the first packets: until one ping has crossed
// each device, the lab is not ready to measure.
absl::Status LabController::WaitForPaths(const Topology& topology) {
  std::vector<std::pair<std::string, std::string>> probes;  // (from node, to address)
  std::vector<std::string> covered;
  for (const Region& r : topology.regions) {
    probes.emplace_back(r.name, FirstAddressOf(topology.FindPop(r.catchment)->addresses));
    covered.push_back(r.catchment);
  }
  for (const Pop& p : topology.pops) {
    if (std::find(covered.begin(), covered.end(), p.name) != covered.end()) continue;
    for (const Link& l : topology.links) {
      if (l.pop == p.name) {
        probes.emplace_back(l.region, FirstAddressOf(p.addresses));
        break;
      }
    }
  }
  probes.emplace_back(topology.pops.front().name, FirstAddressOf(topology.router.addresses));
  for (const auto& [from, to] : probes) {
    bool crossed = false;
    for (int attempt = 0; attempt < 20 && !crossed; ++attempt) {
      VANTAGE_ASSIGN_OR_RETURN(CommandResult r,
                               runner_->Run({"ip", "netns", "exec", NamespaceOf(from), "ping", "-n",
                                             "-q", "-c", "1", "-W", "1", to},
                                            absl::Seconds(5)));
      crossed = r.exit_code == 0;
    }
    if (!crossed) {
      std::cerr << "vantage-lab: warning: no ping from " << from << " to " << to
                << " crossed the lab in 20 tries\n";
    }
  }
  return absl::OkStatus();
}

absl::Status LabController::WaitForServices(const Topology& topology, const RunState& state) {
  const absl::Time deadline = RealClock::Get().MonotonicNow() + absl::Seconds(20);
  for (const RecordedProcess& p : state.processes) {
    if (p.role == "emulator") continue;
    const std::string log = p.role == "nsd"
                                ? absl::StrCat(options_.run_dir, "/nsd-", p.node, "/nsd.log")
                                : absl::StrCat(options_.run_dir, "/tcp-", p.node, ".log");
    const Pop* pop = topology.FindPop(p.node);
    bool ready = false;
    while (!ready) {
      if (!Alive(p)) {
        return absl::InternalError(
            absl::StrCat(p.role, " of pop ", p.node, " exited during start-up:\n", Tail(log)));
      }
      if (RealClock::Get().MonotonicNow() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(p.role, " of pop ", p.node, " did not get ready:\n", Tail(log)));
      }
      if (p.role == "tcp-listener") {
        ready = fs::exists(absl::StrCat(options_.run_dir, "/tcp-", p.node, ".ready"));
      } else {
        VANTAGE_ASSIGN_OR_RETURN(
            CommandResult r,
            runner_->Run({"ip", "netns", "exec", NamespaceOf(p.node), "dig", "+short", "+time=1",
                          "+tries=1", "-p", absl::StrCat(topology.services.dns_port),
                          absl::StrCat("@", pop->services.front().ToString()),
                          topology.services.dns_zone, "SOA"},
                         absl::Seconds(5)));
        ready = r.exit_code == 0 && !r.output.empty();
      }
      if (!ready) absl::SleepFor(absl::Milliseconds(50));
    }
  }
  return absl::OkStatus();
}

absl::Status LabController::Down() {
  absl::StatusOr<RunState> loaded = RunState::Load(state_path());
  if (absl::IsNotFound(loaded.status())) return absl::OkStatus();
  if (!loaded.ok()) return loaded.status();
  const RunState& state = *loaded;
  std::vector<std::string> problems;

  // Daemons first (services, then the emulator), gently, then firmly.
  std::vector<RecordedProcess> running;
  for (auto it = state.processes.rbegin(); it != state.processes.rend(); ++it) {
    if (Alive(*it)) {
      kill(it->pid, SIGTERM);
      running.push_back(*it);
    }
  }
  if (!WaitGone(running, absl::Seconds(3))) {
    for (const RecordedProcess& p : running) {
      if (Alive(p)) kill(p.pid, SIGKILL);
    }
    if (!WaitGone(running, absl::Seconds(2))) problems.push_back("some processes survived SIGKILL");
  }

  // Anything still inside one of our namespaces is ours too (e.g. nsd's
  // children after a crash).
  for (const std::string& ns : state.namespaces) {
    if (!NamespaceExists(ns)) continue;
    absl::StatusOr<CommandResult> pids =
        runner_->Run({"ip", "netns", "pids", ns}, absl::Seconds(10));
    if (pids.ok() && pids->exit_code == 0) {
      std::vector<RecordedProcess> inside;
      for (absl::string_view line : absl::StrSplit(pids->output, '\n', absl::SkipWhitespace())) {
        int pid = 0;
        if (absl::SimpleAtoi(line, &pid) && pid > 1 && pid != getpid()) {
          inside.push_back(RecordedProcess{"", "", pid, ProcessStartTime(pid)});
          kill(pid, SIGKILL);
        }
      }
      WaitGone(inside, absl::Seconds(2));
    }
    absl::StatusOr<CommandResult> del = runner_->Run({"ip", "netns", "del", ns}, absl::Seconds(10));
    if (!del.ok() || del->exit_code != 0) {
      problems.push_back(absl::StrCat("ip netns del ", ns, ": ",
                                      del.ok() ? del->output : del.status().ToString()));
    }
  }
  if (!problems.empty()) {
    return absl::InternalError(
        absl::StrCat("down left things behind: ", absl::StrJoin(problems, "; ")));
  }

  // The run directory's files, the state file last.
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(options_.run_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("nsd-", 0) == 0 || name.rfind("tcp-", 0) == 0 || name == "control.sock" ||
        name == "bgp" || name == "emulator.log" || name == "state.json.tmp") {
      fs::remove_all(e.path(), ec);
    }
  }
  fs::remove(state_path(), ec);
  fs::remove(options_.run_dir, ec);  // only when empty
  return absl::OkStatus();
}

nlohmann::json LabBgpPlan::ToJson() const {
  nlohmann::json j = {{"router_asn", router_asn}, {"connected", connected}};
  j["sessions"] = nlohmann::json::array();
  for (const PopSession& p : pops) {
    nlohmann::json s = {{"pop", p.pop},
                        {"neighbor", p.session.router_address.ToString()},
                        {"speaker", p.session.speaker_address.ToString()},
                        {"asn", p.session.speaker_asn}};
    if (p.next_hop_v4) s["next_hop_v4"] = p.next_hop_v4->ToString();
    if (p.next_hop_v6) s["next_hop_v6"] = p.next_hop_v6->ToString();
    j["sessions"].push_back(s);
  }
  return j;
}

absl::StatusOr<LabBgpPlan> PlanLabBgp(const Topology& topology) {
  if (topology.pops.size() > 63) return absl::InvalidArgumentError("bgp: at most 63 PoPs");
  const Prefix sessions = *Prefix::Parse("198.18.254.0/24");
  std::vector<IpAddress> all = topology.router.addresses;
  for (const Pop& p : topology.pops) {
    all.insert(all.end(), p.addresses.begin(), p.addresses.end());
    all.insert(all.end(), p.services.begin(), p.services.end());
  }
  for (const Region& r : topology.regions)
    all.insert(all.end(), r.addresses.begin(), r.addresses.end());
  for (const IpAddress& a : all) {
    if (sessions.Contains(a)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bgp: address ", a.ToString(), " is inside 198.18.254.0/24, kept for BGP sessions"));
    }
  }
  LabBgpPlan plan;
  for (size_t i = 0; i < topology.pops.size(); ++i) {
    const Pop& pop = topology.pops[i];
    LabBgpPlan::PopSession s;
    s.pop = pop.name;
    s.session.pop = pop.name;
    s.session.router_address =
        IpAddress::V4((198u << 24) | (18u << 16) | (254u << 8) | static_cast<uint32_t>(4 * i + 1));
    s.session.speaker_address =
        IpAddress::V4((198u << 24) | (18u << 16) | (254u << 8) | static_cast<uint32_t>(4 * i + 2));
    s.session.speaker_asn = static_cast<uint32_t>(65001 + i);
    for (const IpAddress& a : pop.addresses) {
      auto& nh = a.is_v4() ? s.next_hop_v4 : s.next_hop_v6;
      if (nh.has_value()) continue;
      nh = a;
      const Prefix net(a, a.is_v4() ? 24 : 64);
      uint8_t bytes[16];
      std::memcpy(bytes, net.address().bytes(), 16);
      if (a.is_v4()) {
        bytes[3] = 254;
      } else {
        bytes[14] = 0xff;
        bytes[15] = 0xfe;
      }
      const IpAddress local = a.is_v4() ? IpAddress::V4Bytes(bytes) : IpAddress::V6Bytes(bytes);
      for (const IpAddress& b : all) {
        if (b == local) {
          return absl::InvalidArgumentError(absl::StrCat(
              "bgp: ", local.ToString(), " is a lab address; the router needs it as its own"));
        }
      }
      const std::string text = absl::StrCat(local.ToString(), "/", net.length());
      if (std::find(plan.connected.begin(), plan.connected.end(), text) == plan.connected.end()) {
        plan.connected.push_back(text);
      }
    }
    plan.pops.push_back(std::move(s));
  }
  return plan;
}

absl::StatusOr<std::string> LabController::RunningNamespaceOf(const std::string& node) {
  VANTAGE_ASSIGN_OR_RETURN(RunState state, RunState::Load(state_path()));
  return state.prefix + node;
}

absl::Status LabController::StartBgp(const std::string& relay_command) {
  VANTAGE_ASSIGN_OR_RETURN(RunState state, RunState::Load(state_path()));
  for (const RecordedProcess& p : state.processes) {
    if (p.role == "bgpd" && Alive(p)) return absl::AlreadyExistsError("bgp is already running");
  }
  VANTAGE_ASSIGN_OR_RETURN(const Topology topology, LoadTopology(state.topology_path));
  VANTAGE_ASSIGN_OR_RETURN(const LabBgpPlan plan, PlanLabBgp(topology));
  const std::string ns = state.prefix + topology.router.name;
  auto ip = [&](const std::vector<std::string>& argv) -> absl::Status {
    VANTAGE_ASSIGN_OR_RETURN(CommandResult r, runner_->Run(argv, absl::Seconds(10)));
    if (r.exit_code != 0) {
      return absl::InternalError(absl::StrCat(JoinArgv(argv), ": ", r.output));
    }
    return absl::OkStatus();
  };
  for (const auto& p : plan.pops) {
    for (const IpAddress& a : {p.session.router_address, p.session.speaker_address}) {
      VANTAGE_RETURN_IF_ERROR(
          ip({"ip", "-n", ns, "addr", "replace", a.ToString() + "/32", "dev", "lo"}));
    }
  }
  for (const std::string& c : plan.connected) {
    std::vector<std::string> argv = {"ip",      "-n", ns,    "addr",
                                     "replace", c,    "dev", options_.tun_name};
    if (c.find(':') != std::string::npos) argv.push_back("nodad");
    VANTAGE_RETURN_IF_ERROR(ip(argv));
  }
  BgpDaemonsConfig config;
  config.dir = options_.run_dir + "/bgp";
  config.router_ns = ns;
  config.speaker_ns = ns;
  config.router_asn = plan.router_asn;
  config.router_id = topology.router.addresses.front().is_v4()
                         ? topology.router.addresses.front()
                         : plan.pops.front().session.router_address;
  for (const auto& p : plan.pops) config.sessions.push_back(p.session);
  config.relay_command = relay_command;
  VANTAGE_ASSIGN_OR_RETURN(std::vector<DaemonCommand> commands, PrepareBgpDaemons(config, runner_));
  {
    nlohmann::json j = plan.ToJson();
    j["dir"] = config.dir;
    j["router_ns"] = ns;
    std::ofstream(config.dir + "/plan.json") << j.dump(2) << "\n";
  }
  for (const DaemonCommand& c : commands) {
    VANTAGE_RETURN_IF_ERROR(StartProcess(&state, c.role, topology.router.name, c.argv, c.log));
    if (c.role == "zebra") VANTAGE_RETURN_IF_ERROR(WaitForZebra(config, absl::Seconds(10)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int>> LabController::Fib(const std::string& prefix) {
  VANTAGE_ASSIGN_OR_RETURN(RunState state, RunState::Load(state_path()));
  VANTAGE_ASSIGN_OR_RETURN(const Topology topology, LoadTopology(state.topology_path));
  return ReadFibWeights(runner_, state.prefix + topology.router.name, prefix);
}

absl::StatusOr<nlohmann::json> LabController::Control(const nlohmann::json& request) {
  VANTAGE_ASSIGN_OR_RETURN(std::string answer,
                           SendControlRequest(control_path(), request.dump(), absl::Seconds(5)));
  nlohmann::json j = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError(absl::StrCat("the emulator answered nonsense: ", answer));
  }
  if (!j.value("ok", false)) {
    return absl::InvalidArgumentError(j.value("error", std::string("failed")));
  }
  return j;
}

absl::StatusOr<nlohmann::json> LabController::Status() {
  VANTAGE_ASSIGN_OR_RETURN(RunState state, RunState::Load(state_path()));
  nlohmann::json out = {{"run_dir", options_.run_dir},
                        {"prefix", state.prefix},
                        {"topology", state.topology_path},
                        {"namespaces", nlohmann::json::array()},
                        {"processes", nlohmann::json::array()}};
  for (const std::string& ns : state.namespaces) {
    out["namespaces"].push_back({{"name", ns}, {"exists", NamespaceExists(ns)}});
  }
  for (const RecordedProcess& p : state.processes) {
    out["processes"].push_back(
        {{"role", p.role}, {"node", p.node}, {"pid", p.pid}, {"alive", Alive(p)}});
  }
  // The topology's model (capacities, demands, addresses) for tools that
  // build on the lab, such as the demo's optimizer snapshot.
  if (absl::StatusOr<Topology> topology = LoadTopology(state.topology_path); topology.ok()) {
    auto addresses = [](const std::vector<IpAddress>& list) {
      nlohmann::json a = nlohmann::json::array();
      for (const IpAddress& ip : list) a.push_back(ip.ToString());
      return a;
    };
    out["pops"] = nlohmann::json::array();
    for (const Pop& pop : topology->pops) {
      out["pops"].push_back({{"name", pop.name},
                             {"capacity", pop.capacity},
                             {"addresses", addresses(pop.addresses)},
                             {"services", addresses(pop.services)}});
    }
    out["router"] = {{"name", topology->router.name},
                     {"addresses", addresses(topology->router.addresses)}};
    out["regions"] = nlohmann::json::array();
    for (const Region& region : topology->regions) {
      out["regions"].push_back({{"name", region.name},
                                {"demand", region.demand},
                                {"addresses", addresses(region.addresses)},
                                {"catchment", region.catchment}});
    }
  }
  {
    std::ifstream plan(options_.run_dir + "/bgp/plan.json");
    if (plan) {
      nlohmann::json j = nlohmann::json::parse(plan, nullptr, /*allow_exceptions=*/false);
      if (!j.is_discarded()) out["bgp"] = j;
    }
  }
  absl::StatusOr<nlohmann::json> emulator = Control({{"command", "status"}});
  if (emulator.ok()) {
    emulator->erase("ok");
    out["emulator"] = *emulator;
  } else {
    out["emulator_error"] = emulator.status().ToString();
  }
  return out;
}

}  // namespace vantage::lab
