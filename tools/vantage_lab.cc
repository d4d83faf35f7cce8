// vantage-lab: brings an emulated anycast network up on this machine (network
// namespaces, a user-space link emulator, nsd and a TCP listener per PoP),
// changes it while it runs, shows it, and takes it down again.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "lab/command_runner.h"
#include "lab/emulator_daemon.h"
#include "lab/lab_controller.h"
#include "lab/tcp_probe_listener.h"
#include "lab/traffic_generator.h"

namespace {

using vantage::lab::LabController;
using vantage::lab::LabOptions;

std::string SelfExe() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

int Fail(const absl::Status& st) {
  std::cerr << "vantage-lab: " << st.message() << "\n";
  return 1;
}

void PrintStatus(const nlohmann::json& s) {
  std::cout << "run dir:   " << s["run_dir"].get<std::string>() << "\n"
            << "topology:  " << s["topology"].get<std::string>() << "\n"
            << "namespaces:";
  for (const auto& ns : s["namespaces"]) {
    std::cout << " " << ns["name"].get<std::string>() << (ns["exists"].get<bool>() ? "" : "(gone)");
  }
  std::cout << "\n\nprocesses:\n";
  for (const auto& p : s["processes"]) {
    std::cout << absl::StrFormat("  %-13s %-12s pid %-8d %s\n", p["role"].get<std::string>(),
                                 p["node"].get<std::string>(), p["pid"].get<int>(),
                                 p["alive"].get<bool>() ? "running" : "NOT RUNNING");
  }
  if (!s.contains("emulator")) {
    std::cout << "\nemulator: " << s.value("emulator_error", std::string("unreachable")) << "\n";
    return;
  }
  const auto& e = s["emulator"];
  std::cout << "\ncatchments:\n";
  for (const auto& [region, pop] : e["catchments"].items()) {
    std::cout << "  " << region << " -> " << pop.get<std::string>() << "\n";
  }
  std::cout << absl::StrFormat("\n  %-12s %-12s %9s %9s %7s %10s %10s %8s %8s\n", "from", "to",
                               "delay_ms", "jitter_ms", "loss", "received", "delivered", "lost",
                               "qdrop");
  for (const auto& l : e["links"]) {
    const auto& p = l["params"];
    std::cout << absl::StrFormat(
        "  %-12s %-12s %9.3f %9.3f %7.4f %10d %10d %8d %8d%s\n", l["from"].get<std::string>(),
        l["to"].get<std::string>(), p["delay_ms"].get<double>(), p["jitter_ms"].get<double>(),
        p["loss"].get<double>(), l["received"].get<int64_t>(), l["delivered"].get<int64_t>(),
        l["lost"].get<int64_t>(), l["queue_dropped"].get<int64_t>(),
        p.contains("gilbert_elliott") ? " +GE" : "");
  }
  std::cout << absl::StrFormat(
      "\npackets read %d, written %d, no route %d, malformed %d, write errors %d, held now %d\n",
      e["packets_read"].get<int64_t>(), e["packets_written"].get<int64_t>(),
      e["no_route"].get<int64_t>(), e["malformed"].get<int64_t>(), e["write_errors"].get<int64_t>(),
      e["held"].get<int64_t>());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vantage-lab: an emulated anycast network on this machine (root needed).\n"
      "PoPs, client regions and a router each get a network namespace (<prefix><name>); one\n"
      "emulator process forwards their IP packets with the topology's per-direction delay,\n"
      "jitter and loss, and delivers anycast addresses to each region's catchment PoP.\n"
      "Every PoP runs nsd (NSID = PoP name) and a TCP listener on its addresses."};
  app.require_subcommand(1);
  LabOptions options;
  options.self_exe = SelfExe();
  std::string topology = VANTAGE_LAB_DEFAULT_TOPOLOGY;
  bool json = false;

  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--run-dir", options.run_dir,
                    "directory holding the running lab's state, control socket and logs")
        ->capture_default_str();
  };

  CLI::App* up = app.add_subcommand("up", "create the namespaces, start emulator and services");
  add_common(up);
  up->add_option("--topology", topology, "topology YAML file")->capture_default_str();
  up->add_option("--prefix", options.prefix, "namespace name prefix")->capture_default_str();
  up->add_option("--seed", options.seed, "random seed for jitter and loss")->capture_default_str();

  CLI::App* down = app.add_subcommand(
      "down", "stop every process and remove every namespace the lab made (also after a crash)");
  add_common(down);

  CLI::App* status = app.add_subcommand("status", "namespaces, processes, links and counters");
  add_common(status);
  status->add_flag("--json", json, "print JSON instead of tables");

  std::string pop, region, direction = "both";
  double delay_ms = -1, jitter_ms = -1, loss = -1;
  int64_t queue_limit = -1;
  CLI::App* set_link = app.add_subcommand(
      "set-link", "change a PoP<->region link of the running lab (takes effect at once)");
  add_common(set_link);
  set_link->add_option("--pop", pop, "PoP end of the link")->required();
  set_link->add_option("--region", region, "region end of the link (or the router's name)")
      ->required();
  set_link->add_option("--direction", direction, "to_pop, to_region or both")
      ->check(CLI::IsMember({"to_pop", "to_region", "both"}))
      ->capture_default_str();
  set_link->add_option("--delay-ms", delay_ms, "one-way delay")->check(CLI::Range(0.0, 60000.0));
  set_link->add_option("--jitter-ms", jitter_ms, "+/- uniform jitter")
      ->check(CLI::Range(0.0, 60000.0));
  set_link->add_option("--loss", loss, "Bernoulli loss probability")->check(CLI::Range(0.0, 1.0));
  set_link->add_option("--queue-limit", queue_limit, "packets queued per direction")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));

  CLI::App* set_catchment = app.add_subcommand(
      "set-catchment", "deliver a region's anycast traffic to another PoP (as a BGP change would)");
  add_common(set_catchment);
  set_catchment->add_option("--region", region, "client region")->required();
  set_catchment->add_option("--pop", pop, "new catchment PoP")->required();

  std::string relay_socket, relay_binary;
  CLI::App* bgp = app.add_subcommand(
      "bgp", "start FRR (the router) and ExaBGP (the PoPs' BGP speaker) in the router namespace");
  add_common(bgp);
  bgp->add_option("--relay-socket", relay_socket,
                  "unix socket of the collector's ExaBGP adapter (control.adapter.socket)")
      ->required();
  bgp->add_option("--relay-binary", relay_binary,
                  "vantage-exabgp-relay (default: next to vantage-lab)");

  std::string fib_prefix;
  CLI::App* fib = app.add_subcommand(
      "fib", "the router's FIB for a prefix: next hop, PoP, weight and share (from `ip route`)");
  add_common(fib);
  fib->add_option("--prefix", fib_prefix, "service prefix")->required();
  fib->add_flag("--json", json, "print JSON");

  vantage::lab::TrafficOptions traffic_options;
  double traffic_seconds = 10;
  std::string fallback;
  CLI::App* traffic = app.add_subcommand(
      "traffic",
      "client TCP connections from a region to the PoPs' listeners, split like the router's "
      "FIB weights for --prefix (bounded by --rate and --seconds)");
  add_common(traffic);
  traffic->add_option("--region", region, "client region (runs in its namespace)")->required();
  traffic
      ->add_option("--prefix", traffic_options.service_prefix,
                   "service prefix whose FIB next hops the connections follow")
      ->required();
  traffic->add_option("--fallback", fallback, "PoP address to use while the FIB has no route");
  traffic->add_option("--rate", traffic_options.rate, "connections per second")
      ->check(CLI::Range(0.1, 10000.0))
      ->capture_default_str();
  traffic->add_option("--seconds", traffic_seconds, "how long")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  traffic->add_option("--port", traffic_options.port, "the PoPs' TCP listener port")
      ->capture_default_str();
  traffic->add_option("--seed", traffic_options.seed, "random seed")->capture_default_str();
  traffic->add_flag("--json", json, "print JSON");

  vantage::lab::EmulatorDaemonOptions daemon;
  CLI::App* emulate = app.add_subcommand("emulate", "");  // internal: started by up
  emulate->group("");
  emulate->add_option("--topology", daemon.topology_path)->required();
  emulate->add_option("--prefix", daemon.prefix)->required();
  emulate->add_option("--run-dir", daemon.run_dir)->required();
  emulate->add_option("--tun", daemon.tun_name);
  emulate->add_option("--seed", daemon.seed);
  bool no_realtime = false;
  emulate->add_flag("--no-realtime", no_realtime);

  std::vector<std::string> listen_addresses;
  std::string ready_file;
  uint16_t listen_port = 80;
  CLI::App* tcp_listen = app.add_subcommand("tcp-listen", "");  // internal: started by up
  tcp_listen->group("");
  tcp_listen->add_option("--pop", pop)->required();
  tcp_listen->add_option("--port", listen_port)->required();
  tcp_listen->add_option("--address", listen_addresses)->required();
  tcp_listen->add_option("--ready-file", ready_file);

  CLI11_PARSE(app, argc, argv);

  vantage::lab::SystemCommandRunner runner;
  LabController lab(options, &runner);
  if (*up) {
    for (char c : options.prefix) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return Fail(absl::InvalidArgumentError("--prefix may hold only a-z, 0-9 and '-'"));
      }
    }
    absl::Status st = lab.Up(topology);
    if (!st.ok()) return Fail(st);
    std::cout << "vantage-lab: up (run dir " << options.run_dir << ", namespaces " << options.prefix
              << "*); 'vantage-lab status' shows it\n";
    return 0;
  }
  if (*down) {
    absl::Status st = lab.Down();
    if (!st.ok()) return Fail(st);
    std::cout << "vantage-lab: down\n";
    return 0;
  }
  if (*status) {
    absl::StatusOr<nlohmann::json> s = lab.Status();
    if (!s.ok()) return Fail(s.status());
    if (json) {
      std::cout << s->dump(2) << "\n";
    } else {
      PrintStatus(*s);
    }
    return s->contains("emulator") ? 0 : 2;
  }
  if (*set_link) {
    nlohmann::json req = {
        {"command", "set-link"}, {"pop", pop}, {"region", region}, {"direction", direction}};
    if (delay_ms >= 0) req["delay_ms"] = delay_ms;
    if (jitter_ms >= 0) req["jitter_ms"] = jitter_ms;
    if (loss >= 0) req["loss"] = loss;
    if (queue_limit >= 0) req["queue_limit"] = queue_limit;
    absl::StatusOr<nlohmann::json> r = lab.Control(req);
    if (!r.ok()) return Fail(r.status());
    return 0;
  }
  if (*set_catchment) {
    absl::StatusOr<nlohmann::json> r =
        lab.Control({{"command", "set-catchment"}, {"region", region}, {"pop", pop}});
    if (!r.ok()) return Fail(r.status());
    return 0;
  }
  if (*bgp) {
    if (relay_binary.empty()) {
      relay_binary =
          options.self_exe.substr(0, options.self_exe.rfind('/') + 1) + "vantage-exabgp-relay";
    }
    absl::Status st = lab.StartBgp(relay_binary + " --socket " + relay_socket);
    if (!st.ok()) return Fail(st);
    std::cout << "vantage-lab: FRR and ExaBGP started in the router namespace (logs in "
              << options.run_dir << "/bgp)\n";
    return 0;
  }
  if (*fib) {
    absl::StatusOr<std::map<std::string, int>> f = lab.Fib(fib_prefix);
    if (!f.ok()) return Fail(f.status());
    std::map<std::string, std::string> pop_of;
    if (absl::StatusOr<nlohmann::json> s = lab.Status(); s.ok() && s->contains("bgp")) {
      for (const auto& sess : (*s)["bgp"]["sessions"]) {
        for (const char* k : {"next_hop_v4", "next_hop_v6"}) {
          if (sess.contains(k)) pop_of[sess[k].get<std::string>()] = sess["pop"].get<std::string>();
        }
      }
    }
    int total = 0;
    for (const auto& [nh, w] : *f) total += w;
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [nh, w] : *f) {
      out[nh] = {{"pop", pop_of.count(nh) ? pop_of[nh] : std::string("?")},
                 {"weight", w},
                 {"share", total > 0 ? static_cast<double>(w) / total : 0.0}};
    }
    if (json) {
      std::cout << out.dump(2) << "\n";
    } else {
      for (const auto& [nh, v] : out.items()) {
        std::cout << absl::StrFormat("  %-8s via %-16s weight %3d  (%.1f%%)\n",
                                     v["pop"].get<std::string>(), nh, v["weight"].get<int>(),
                                     100 * v["share"].get<double>());
      }
      if (out.empty()) std::cout << "  (no route for " << fib_prefix << ")\n";
    }
    return 0;
  }
  if (*traffic) {
    absl::StatusOr<std::string> ns = lab.RunningNamespaceOf(region);
    if (!ns.ok()) return Fail(ns.status());
    absl::StatusOr<std::string> router_ns = lab.RunningNamespaceOf("router");
    if (absl::StatusOr<nlohmann::json> s = lab.Status(); s.ok() && s->contains("bgp")) {
      router_ns = (*s)["bgp"]["router_ns"].get<std::string>();
    }
    if (!router_ns.ok()) return Fail(router_ns.status());
    traffic_options.router_ns = *router_ns;
    traffic_options.duration = absl::Seconds(traffic_seconds);
    if (!fallback.empty()) {
      absl::StatusOr<vantage::IpAddress> ip = vantage::IpAddress::Parse(fallback);
      if (!ip.ok()) return Fail(ip.status());
      traffic_options.fallback = *ip;
    }
    const int fd = open(("/run/netns/" + *ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      return Fail(absl::UnavailableError("cannot enter network namespace " + *ns));
    }
    close(fd);
    absl::StatusOr<vantage::lab::TrafficReport> r =
        vantage::lab::RunTrafficGenerator(traffic_options, &runner);
    if (!r.ok()) return Fail(r.status());
    nlohmann::json out = {{"region", region}, {"no_route", r->no_route}};
    for (const auto& [dest, c] : r->by_destination) {
      out["destinations"][dest] = {
          {"started", c.started}, {"completed", c.completed}, {"failed", c.failed}};
    }
    if (json) {
      std::cout << out.dump() << "\n";
    } else {
      for (const auto& [dest, c] : r->by_destination) {
        std::cout << absl::StrFormat("  %-12s -> %-16s %6d connections, %d failed\n", region, dest,
                                     c.completed, c.failed);
      }
    }
    return 0;
  }
  if (*emulate) {
    daemon.realtime = !no_realtime;
    absl::Status st = vantage::lab::RunEmulatorDaemon(daemon, &runner);
    if (!st.ok()) return Fail(st);
    return 0;
  }
  if (*tcp_listen) {
    std::vector<vantage::IpAddress> addresses;
    for (const std::string& a : listen_addresses) {
      absl::StatusOr<vantage::IpAddress> ip = vantage::IpAddress::Parse(a);
      if (!ip.ok()) return Fail(ip.status());
      addresses.push_back(*ip);
    }
    return Fail(vantage::lab::RunTcpProbeListener(addresses, listen_port, pop, ready_file));
  }
  return 0;
}
