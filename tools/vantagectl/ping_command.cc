// `vantagectl ping`: a one-shot active measurement, like fping, with kernel
// capture timestamps on both legs of every probe.
#include <netdb.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "probe/ping_session.h"
#include "tools/vantagectl/command.h"

namespace {

using vantage::IpAddress;
using vantage::probe::FlowReport;
using vantage::probe::PingOptions;
using vantage::probe::PingResult;
using vantage::probe::PingSession;
using vantage::probe::ProbeMethodSpec;
using vantage::probe::ProbeTarget;

struct PingFlags {
  std::vector<std::string> targets;
  std::string method = "icmp";
  int count = 5;
  double interval_ms = 1000;
  double timeout_ms = 1000;
  int flows = 1;
  int burst = 1;
  double rate = 10'000;
  std::string interface;
  // A one-shot run keeps few targets, so it can afford quantiles to 0.1%
  // (the daemon's 1% sketches would use up a 1% accuracy budget alone).
  double sketch_alpha = 0.001;
  bool json = false;
};

// An address literal, or the first address a name resolves to.
absl::StatusOr<IpAddress> Resolve(const std::string& text) {
  if (auto ip = IpAddress::Parse(text); ip.ok()) return *ip;
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(text.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::NotFoundError(absl::StrFormat("cannot resolve %s: %s", text, gai_strerror(rc)));
  }
  auto endpoint = vantage::Endpoint::FromSockaddr(res->ai_addr);
  freeaddrinfo(res);
  if (!endpoint.ok()) return endpoint.status();
  return endpoint->address();
}

double Ms(double us) { return us / 1000.0; }

nlohmann::json SketchJson(const vantage::QuantileSketch& s) {
  if (s.empty()) return nullptr;
  return {{"count", s.count()},     {"min", s.min()},          {"p50", s.Quantile(0.5)},
          {"p90", s.Quantile(0.9)}, {"p99", s.Quantile(0.99)}, {"max", s.max()}};
}

nlohmann::json ToJson(const PingResult& result) {
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& t : result.targets) {
    const FlowReport& r = t.merged;
    nlohmann::json errors = nlohmann::json::object();
    for (int k = 0; k < vantage::probe::kIcmpErrorKinds; ++k) {
      if (r.errors[static_cast<size_t>(k)] == 0) continue;
      errors[vantage::probe::IcmpErrorKindName(static_cast<vantage::probe::IcmpErrorKind>(k))] =
          r.errors[static_cast<size_t>(k)];
    }
    nlohmann::json rtt = SketchJson(r.rtt_us);
    if (!rtt.is_null() && r.min_rtt) rtt["min"] = absl::ToDoubleMicroseconds(*r.min_rtt);
    nlohmann::json j = {
        {"target", t.target.address.ToString()},
        {"method", t.target.spec.ToString()},
        {"sent", r.sent},
        {"received", r.received},
        {"lost", r.lost},
        {"loss", r.sent ? static_cast<double>(r.lost) / static_cast<double>(r.sent) : 0.0},
        {"duplicates", r.duplicates},
        {"late", r.late},
        {"no_request_timestamp", r.no_request_timestamp},
        {"errors", errors},
        {"rtt_us", rtt},
    };
    if (t.target.spec.method == vantage::probe::ProbeMethod::kStamp) {
      j["reflector_us"] = SketchJson(r.reflector_us);
      j["forward_us"] = SketchJson(r.forward_us);
      j["backward_us"] = SketchJson(r.backward_us);
    }
    targets.push_back(j);
  }
  const auto& c = result.counters;
  return {{"targets", targets},
          {"counters",
           {{"captured", c.captured},
            {"undecodable", c.undecodable},
            {"unrelated", c.unrelated},
            {"forged", c.forged},
            {"stale", c.stale},
            {"send_errors", c.send_errors},
            {"rate_limited", c.rate_limited},
            {"unattributed_errors", c.unattributed_errors},
            {"evicted", c.evicted},
            {"tcp_ports_exhausted", c.tcp_ports_exhausted}}},
          {"capture",
           {{"interfaces", result.interfaces},
            {"received", result.capture.received},
            {"kernel_dropped", result.capture.kernel_dropped},
            {"interface_dropped", result.capture.interface_dropped}}},
          {"elapsed_s", absl::ToDoubleSeconds(result.elapsed)}};
}

void PrintTable(const PingResult& result) {
  std::printf("%-28s %-10s %6s %6s %7s %9s %9s %9s %9s %9s  %s\n", "target", "method", "sent",
              "recv", "loss%", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "notes");
  for (const auto& t : result.targets) {
    const FlowReport& r = t.merged;
    const double loss =
        r.sent ? 100.0 * static_cast<double>(r.lost) / static_cast<double>(r.sent) : 0;
    std::string notes;
    if (r.duplicates) notes += absl::StrFormat("dup=%d ", r.duplicates);
    if (r.late) notes += absl::StrFormat("late=%d ", r.late);
    for (int k = 0; k < vantage::probe::kIcmpErrorKinds; ++k) {
      if (r.errors[static_cast<size_t>(k)] == 0) continue;
      notes += absl::StrFormat(
          "%s=%d ",
          vantage::probe::IcmpErrorKindName(static_cast<vantage::probe::IcmpErrorKind>(k)),
          r.errors[static_cast<size_t>(k)]);
    }
    if (!r.reflector_us.empty()) {
      notes += absl::StrFormat("reflector_p50=%.1fus ", r.reflector_us.Quantile(0.5));
    }
    if (!r.forward_us.empty()) {
      notes += absl::StrFormat("owd_fwd_p50=%.1fus owd_bwd_p50=%.1fus ", r.forward_us.Quantile(0.5),
                               r.backward_us.Quantile(0.5));
    }
    if (r.rtt_us.empty()) {
      std::printf("%-28s %-10s %6d %6d %6.1f%% %9s %9s %9s %9s %9s  %s\n",
                  t.target.address.ToString().c_str(), t.target.spec.ToString().c_str(),
                  static_cast<int>(r.sent), static_cast<int>(r.received), loss, "-", "-", "-", "-",
                  "-", notes.c_str());
      continue;
    }
    std::printf("%-28s %-10s %6d %6d %6.1f%% %9.3f %9.3f %9.3f %9.3f %9.3f  %s\n",
                t.target.address.ToString().c_str(), t.target.spec.ToString().c_str(),
                static_cast<int>(r.sent), static_cast<int>(r.received), loss,
                r.min_rtt ? absl::ToDoubleMilliseconds(*r.min_rtt) : NAN,
                Ms(r.rtt_us.Quantile(0.5)), Ms(r.rtt_us.Quantile(0.9)), Ms(r.rtt_us.Quantile(0.99)),
                Ms(r.rtt_us.max()), notes.c_str());
  }
  const auto& c = result.counters;
  if (c.forged || c.send_errors || c.evicted || c.tcp_ports_exhausted ||
      result.capture.kernel_dropped) {
    std::printf(
        "forged=%llu send_errors=%llu evicted=%llu tcp_ports_exhausted=%llu "
        "capture_kernel_dropped=%llu\n",
        static_cast<unsigned long long>(c.forged), static_cast<unsigned long long>(c.send_errors),
        static_cast<unsigned long long>(c.evicted),
        static_cast<unsigned long long>(c.tcp_ports_exhausted),
        static_cast<unsigned long long>(result.capture.kernel_dropped));
  }
}

void RunPing(const PingFlags& flags) {
  auto spec = ProbeMethodSpec::Parse(flags.method);
  if (!spec.ok()) {
    std::fprintf(stderr, "vantagectl ping: %s\n", std::string(spec.status().message()).c_str());
    vantagectl::SetExitCode(2);
    return;
  }
  PingOptions options;
  for (const std::string& text : flags.targets) {
    auto ip = Resolve(text);
    if (!ip.ok()) {
      std::fprintf(stderr, "vantagectl ping: %s\n", std::string(ip.status().message()).c_str());
      vantagectl::SetExitCode(2);
      return;
    }
    options.targets.push_back(ProbeTarget{*ip, *spec});
  }
  options.count = flags.count;
  options.interval = absl::Microseconds(static_cast<int64_t>(flags.interval_ms * 1000));
  options.timeout = absl::Microseconds(static_cast<int64_t>(flags.timeout_ms * 1000));
  options.flows = flags.flows;
  options.burst = flags.burst;
  options.max_pps = flags.rate;
  options.sketch_alpha = flags.sketch_alpha;
  options.sketch_max_bins = 4096;
  if (!flags.interface.empty()) options.interface = flags.interface;
  auto result = PingSession::Run(options);
  if (!result.ok()) {
    std::fprintf(stderr, "vantagectl ping: %s\n", std::string(result.status().message()).c_str());
    vantagectl::SetExitCode(1);
    return;
  }
  if (flags.json) {
    std::printf("%s\n", ToJson(*result).dump(2).c_str());
  } else {
    PrintTable(*result);
  }
  vantagectl::SetExitCode(0);
}

void SetupPing(CLI::App& app) {
  auto flags = std::make_shared<PingFlags>();
  auto* cmd = app.add_subcommand(
      "ping", "Probe targets (ICMP echo, TCP SYN or STAMP) and print loss and RTT per target");
  cmd->add_option("targets", flags->targets, "Addresses or host names")->required();
  cmd->add_option("--method", flags->method, "icmp | tcp:PORT | stamp[:PORT]")
      ->capture_default_str();
  cmd->add_option("--count,-c", flags->count, "Probes per target")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--interval,-i", flags->interval_ms, "Milliseconds between a target's probes")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3'600'000.0));
  cmd->add_option("--timeout,-t", flags->timeout_ms, "Milliseconds to wait for a reply")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 60'000.0));
  cmd->add_option("--flows", flags->flows, "Stable flows (5-tuples / ICMP ids) per target")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  cmd->add_option("--burst", flags->burst,
                  "Probes per target per round, spread over the flows (TCP: each pending SYN "
                  "leaves from its own source port)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--rate", flags->rate, "Global ceiling, probes per second")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 10'000'000.0));
  cmd->add_option("--sketch-alpha", flags->sketch_alpha,
                  "Relative accuracy of the reported quantiles (min and max are exact)")
      ->capture_default_str()
      ->check(CLI::Range(0.0001, 0.1));
  cmd->add_option("--interface", flags->interface, "Capture interface (default: from the routes)");
  cmd->add_flag("--json", flags->json, "Print JSON instead of a table");
  cmd->callback([flags] { RunPing(*flags); });
}

VANTAGECTL_COMMAND(SetupPing);

}  // namespace
