// Accuracy of our measurements against the lab's ground truth: every test
// brings up its own lab with the real vantage-lab binary (LabFixture:
// namespaces vtt<pid>a-*, a private run directory, a topology written here),
// measures the emulated links with our tools (vantagectl ping / pcap-rtt /
// dns, run in the lab's namespaces with `ip netns exec`), prints the peer
// tool's figure beside ours where there is one, and takes the lab down again,
// checking that nothing is left behind. Needs root and /dev/net/tun; skipped
// otherwise.
//
// Ground truth. The topology configures round trips of 1, 10 and 50 ms from
// regions r1, r10, r50 to PoP p, and 0 ms from r0. Every check compares the
// median we measure with the configured round trip itself, with the issue's
// bound and nothing subtracted: max(20 us, 1%) for active probes (issue 4),
// max(50 us, 1%) for passive RTT (issue 5), and for DNS (issue 6) the round
// trip plus nsd's own answer time, measured in the same run by the same tool
// from inside the PoP (where the anycast address is on loopback).
//
// What the lab guarantees (and this test relies on): a link of delay D is D
// from the sending node's kernel transmit timestamp to the receiving node's
// kernel receive timestamp, the two instants libpcap (our prober) stamps on
// the nodes' TUN devices, as on a real link. The emulator starts the delay
// at the transmit timestamp (so its wake-up and read time are inside D),
// measures the receive timestamp of every packet it writes (a tap on the
// receiving TUN device) and writes each packet early by the write -> kernel
// receive latency it has learnt for that node, so the median residual
// (receive - transmit - D) is zero; the Active test prints that residual per
// link from `vantage-lab status` (emulator.residual_us; lab_residual_test
// asserts it). What is left in an RTT error is therefore ours or the
// answering node's: its kernel's own turnaround (ICMP echo: printed as
// echo_turnaround_us, ~5-15 us on this VM under load; TCP SYN-ACK alike) is
// in every RTT, as on a real host, and not subtracted.
//
// The 0 ms path r0 cannot be exact (a packet cannot be written before the
// emulator has read it): it is longer by the emulator's read latency, never
// shorter, and is printed, not checked, as the lab's own floor.
//
// Each test prints one table (method x configured RTT: median measured,
// error, bound, pass) with the load average of the machine at the time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "lab/command_runner.h"
#include "tests/lab/lab_fixture.h"

namespace vantage {
namespace {

using lab::CommandResult;
using lab::test::Median;
using lab::test::ParseJson;
using lab::test::ReadFile;
using ::testing::HasSubstr;

constexpr int kTcpPort = 8080;          // the lab's services.tcp_port, written into the topology
const char* const kPop = "198.18.1.1";  // PoP p
const char* const kLossyPop = "198.18.1.2";  // PoP q: r10 -> q loses 10%
const char* const kAnycastDns = "198.19.0.53";
constexpr double kLossyLinkLoss = 0.10;

struct Region {
  const char* name;
  double rtt_ms;       // configured round trip to PoP p
  const char* host;    // the region's address
  const char* prefix;  // its /24, as pcap-rtt aggregates it
};
constexpr Region kRegions[] = {{"r0", 0, "198.18.10.1", "198.18.10.0/24"},
                               {"r1", 1, "198.18.11.1", "198.18.11.0/24"},
                               {"r10", 10, "198.18.12.1", "198.18.12.0/24"},
                               {"r50", 50, "198.18.13.1", "198.18.13.0/24"}};

std::string Topology() {
  std::string t =
      absl::StrCat("services: {dns_zone: lab.vantage.test, dns_port: 53, tcp_port: ", kTcpPort,
                   "}\n"
                   "pops:\n"
                   "  - {name: p, addresses: [",
                   kPop, "], services: [", kAnycastDns,
                   "]}\n"
                   "  - {name: q, addresses: [",
                   kLossyPop, "], services: [", kAnycastDns, "]}\nregions:\n");
  for (const Region& r : kRegions) {
    absl::StrAppend(&t, "  - {name: ", r.name, ", addresses: [", r.host, "], catchment: p}\n");
  }
  t += "links:\n";
  for (const Region& r : kRegions) {
    absl::StrAppend(&t, "  - {pop: p, region: ", r.name, ", delay_ms: ", r.rtt_ms / 2, "}\n");
  }
  // r1 -> q: the other catchment for r1; r10 -> q: the lossy link.
  t += "  - {pop: q, region: r1, delay_ms: 0.5}\n";
  absl::StrAppend(&t, "  - {pop: q, region: r10, delay_ms: 5, to_pop: {loss: ", kLossyLinkLoss,
                  "}}\n");
  return t;
}

std::string LoadAverage() {
  std::string s = ReadFile("/proc/loadavg");
  const std::vector<std::string> f = absl::StrSplit(s, ' ');
  return f.size() >= 3 ? absl::StrCat(f[0], " ", f[1], " ", f[2]) : s;
}

// One line of an accuracy table. `expected_us` is what the median should
// be: the configured round trip (plus nsd's own time for DNS).
struct Row {
  std::string method;
  std::string path;
  double configured_us = 0;
  double expected_us = 0;
  double median_us = NAN;
  size_t samples = 0;
  double bound_us = 0;  // 0: not checked (the 0 ms path: the lab's overhead)
  std::string peer;     // the peer tool's figure, if any

  double error_us() const { return median_us - expected_us; }
  bool pass() const { return std::abs(error_us()) <= bound_us; }
};

void PrintTable(const std::string& title, const std::vector<Row>& rows) {
  std::string out = absl::StrFormat("\n== %s (load average %s) ==\n", title, LoadAverage());
  absl::StrAppendFormat(&out, "%-10s %-5s %12s %12s %12s %8s %10s %9s %6s  %s\n", "method", "path",
                        "configured", "expected", "median", "samples", "error", "bound", "pass",
                        "peer");
  for (const Row& r : rows) {
    absl::StrAppendFormat(&out, "%-10s %-5s %9.1f us %9.1f us %9.1f us %8d %7.1f us ", r.method,
                          r.path, r.configured_us, r.expected_us, r.median_us, r.samples,
                          r.error_us());
    if (r.bound_us > 0) {
      absl::StrAppendFormat(&out, "%6.1f us %6s", r.bound_us, r.pass() ? "yes" : "NO");
    } else {
      absl::StrAppendFormat(&out, "%9s %6s", "-", "(lab)");
    }
    absl::StrAppend(&out, "  ", r.peer, "\n");
  }
  std::cout << out << std::flush;
}

void ExpectWithinBound(const Row& r) {
  if (r.bound_us <= 0) return;
  EXPECT_LE(std::abs(r.error_us()), r.bound_us)
      << r.method << " " << r.path << ": median " << r.median_us << " us, expected "
      << r.expected_us << " us (configured " << r.configured_us << " us)";
}

// fping -C output ("addr : 1.02 1.05 - 1.01"): the RTTs in ms and the losses.
struct FpingResult {
  std::vector<double> rtts_ms;
  int lost = 0;
};
FpingResult ParseFping(const std::string& output) {
  FpingResult r;
  const size_t colon = output.find(" : ");
  if (colon == std::string::npos) return r;
  const std::string line = output.substr(colon + 3, output.find('\n', colon) - colon - 3);
  for (absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    if (field == "-") {
      ++r.lost;
    } else {
      r.rtts_ms.push_back(std::stod(std::string(field)));
    }
  }
  return r;
}

double P50(const nlohmann::json& target) {
  if (!target.contains("rtt_us") || !target["rtt_us"].is_object()) return NAN;
  return target["rtt_us"]["p50"].get<double>();
}

class LabAccuracyTest : public lab::test::LabFixture {
 protected:
  LabAccuracyTest() : LabFixture("a", {"ip", "nsd", "ping", "fping", "dumpcap", "bash"}) {}

  void SetUp() override {
    LabFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(Up(Topology()));
    for (const Region& r : kRegions) WaitForPath(r.name, kPop);
    WaitForPath("r10", kLossyPop);
  }

  std::vector<std::string> PingArgv(const std::string& target, const std::string& method, int count,
                                    double interval_ms, int flows) const {
    // vantagectl ping's sketch quantises to 0.1% (its default --sketch-alpha),
    // a tenth of the 1% bound.
    return {VANTAGECTL_PATH,
            "ping",
            "--json",
            "--method",
            method,
            "-c",
            absl::StrCat(count),
            "-i",
            absl::StrCat(interval_ms),
            "-t",
            "1000",
            "--flows",
            absl::StrCat(flows),
            target};
  }

  // `vantagectl ping --json` from `region`; the target's JSON object.
  nlohmann::json Ping(const std::string& region, const std::string& target,
                      const std::string& method, int count, double interval_ms, int flows = 1) {
    const CommandResult r =
        Run(InNs(region, PingArgv(target, method, count, interval_ms, flows)), absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return TargetOf(r.output);
  }

  static nlohmann::json TargetOf(const std::string& output) {
    const nlohmann::json j = ParseJson(output);
    if (!j.is_object() || !j.contains("targets") || j["targets"].empty()) {
      ADD_FAILURE() << "no ping result: " << output;
      return nlohmann::json::object();
    }
    return j["targets"][0];
  }

  // Runs `argv_of(region)` in every region at once (the same stretch of
  // machine time for all paths); the outputs by region name.
  template <typename ArgvOf>
  std::map<std::string, std::string> InEveryRegion(const std::string& tag, ArgvOf argv_of) {
    std::map<std::string, pid_t> pids;
    for (const Region& r : kRegions) {
      const std::string log = absl::StrCat(work(), "/", tag, "-", r.name, ".log");
      pids[r.name] = SpawnInNs(r.name, argv_of(r), log);
    }
    std::map<std::string, std::string> out;
    for (const Region& r : kRegions) {
      EXPECT_TRUE(WaitSpawned(pids[r.name], absl::Seconds(120))) << tag << " " << r.name;
      out[r.name] = ReadFile(absl::StrCat(work(), "/", tag, "-", r.name, ".log"));
    }
    return out;
  }
};

// Issue 4: median RTT error <= max(20 us, 1%) at 1, 10 and 50 ms for ICMP,
// TCP SYN and STAMP; loss counted exactly as the lab drops packets.
TEST_F(LabAccuracyTest, ActiveProberMedianRttAndLoss) {
  const pid_t reflector = SpawnInNs("p", {VANTAGECTL_PATH, "stamp-reflect", "--duration", "300"},
                                    work() + "/stamp-reflect.log");
  ASSERT_GT(reflector, 0);
  bool reflecting = false;
  for (int i = 0; i < 20 && !reflecting; ++i) {
    reflecting = Ping("r0", kPop, "stamp", 1, 10).value("received", 0) == 1;
  }
  ASSERT_TRUE(reflecting) << ReadFile(work() + "/stamp-reflect.log");

  constexpr int kCount = 400;
  constexpr double kIntervalMs = 10;
  const std::string tcp = absl::StrCat("tcp:", kTcpPort);
  std::vector<Row> rows;
  for (const std::string& method : {std::string("icmp"), tcp, std::string("stamp")}) {
    // TCP: a SYN on a 5-tuple whose previous SYN the server still holds
    // (until our RST reaches it, one RTT and a half later) is dropped by
    // Linux, so TCP probes rotate over 16 flows: each is reused only every
    // 160 ms.
    const int flows = method == tcp ? 16 : 1;
    const std::map<std::string, std::string> outputs = InEveryRegion(
        absl::StrCat("ping-", method.substr(0, 4)),
        [&](const Region&) { return PingArgv(kPop, method, kCount, kIntervalMs, flows); });
    std::map<std::string, std::string> fping;
    if (method == "icmp") {
      // The peer, over the same paths (user-space timestamps).
      fping = InEveryRegion("fping", [&](const Region&) {
        return std::vector<std::string>{"fping", "-q",
                                        "-C",    absl::StrCat(kCount),
                                        "-p",    absl::StrCat(static_cast<int>(kIntervalMs)),
                                        "-t",    "1000",
                                        kPop};
      });
    }
    for (const Region& r : kRegions) {
      const nlohmann::json t = TargetOf(outputs.at(r.name));
      EXPECT_EQ(t.value("sent", 0), kCount) << method << " " << r.name;
      if (method == tcp) {
        // Not asserted: a 50 ms path can still lose a few SYN probes on a
        // reused 5-tuple that the lab did not drop.
        EXPECT_GE(t.value("received", 0), kCount / 2) << method << " " << r.name;
      } else {
        EXPECT_EQ(t.value("lost", -1), 0) << method << " " << r.name << ": " << t.dump();
      }
      Row row;
      row.method = method;
      row.path = r.name;
      row.configured_us = row.expected_us = r.rtt_ms * 1000;
      row.median_us = P50(t);
      row.samples = static_cast<size_t>(t.value("received", 0));
      row.bound_us = r.rtt_ms == 0 ? 0 : std::max(20.0, 0.01 * row.configured_us);
      if (method == tcp) row.peer = absl::StrCat("lost ", t.value("lost", -1));
      if (method == "stamp" && t.contains("reflector_us") && t["reflector_us"].is_object()) {
        row.peer = absl::StrFormat("reflector's own time (T3-T2) p50 %.1f us, not in the RTT",
                                   t["reflector_us"]["p50"].get<double>());
      }
      if (method == "icmp") {
        const FpingResult f = ParseFping(fping[r.name]);
        const double fping_us = Median(f.rtts_ms) * 1000;
        row.peer = absl::StrFormat("fping median %.1f us (error %.1f us, %d samples)", fping_us,
                                   fping_us - row.configured_us, f.rtts_ms.size());
      }
      rows.push_back(row);
    }
  }
  StopSpawned(reflector, SIGTERM);
  PrintTable("active prober: median RTT vs configured (issue 4)", rows);
  for (const Row& r : rows) ExpectWithinBound(r);

  // Loss: r10 -> q drops 10% of the requests; every probe we count as lost
  // is one the emulator dropped, and the count is binomially plausible.
  constexpr int kLossCount = 600;
  const nlohmann::json before = LabStatus();
  const nlohmann::json t = Ping("r10", kLossyPop, "icmp", kLossCount, 2);
  const nlohmann::json after = LabStatus();
  const int64_t lab_lost = LinkLost(after, "r10", "q") - LinkLost(before, "r10", "q");
  const int lost = t.value("lost", -1);
  const auto [lo, hi] = lab::test::BinomialInterval(kLossCount, kLossyLinkLoss, 0.01);
  const FpingResult f = ParseFping(Run(InNs("r10", {"fping", "-q", "-C", absl::StrCat(kLossCount),
                                                    "-p", "2", "-t", "1000", kLossyPop}),
                                       absl::Seconds(60))
                                       .output);
  std::cout << "active loss: configured " << kLossyLinkLoss * 100 << "%, lab dropped " << lab_lost
            << "/" << kLossCount << ", ours lost " << lost << "/" << t.value("sent", 0)
            << " (99% interval [" << lo << ", " << hi << "]) | fping lost " << f.lost << "/"
            << f.lost + static_cast<int>(f.rtts_ms.size()) << "\n";
  EXPECT_EQ(t.value("sent", 0), kLossCount);
  EXPECT_EQ(lost, lab_lost);
  EXPECT_GE(lost, lo);
  EXPECT_LE(lost, hi);
  // The emulator gave (nearly) every packet its kernel transmit time.
  const nlohmann::json& tx = after["emulator"]["tx_timestamps"];
  std::cout << "emulator transmit timestamps: " << tx.dump()
            << "; departure lateness (us): " << after["emulator"]["departure_lateness_us"].dump()
            << "; timer armed " << after["emulator"].value("timer_advance_us", -1.0)
            << " us early\n"
            << "emulator residual (kernel receive - kernel transmit - delay, us): "
            << after["emulator"]["residual_us"].dump()
            << "; write leads (us): " << after["emulator"]["write_lead_us"].dump() << "\n"
            << "node's own ICMP echo turnaround (kernel rx of request -> kernel tx of reply, "
               "in every RTT, in no link; us): "
            << after["emulator"]["echo_turnaround_us"].dump() << "\n";
  for (const nlohmann::json& l : after["emulator"]["links"]) {
    if (l["to"] == "p" || l["from"] == "p") {
      std::cout << "  " << l["from"].get<std::string>() << " -> " << l["to"].get<std::string>()
                << " residual (us): " << l["residual_us"].dump() << "\n";
    }
  }
  EXPECT_GT(tx.value("matched", 0), 0);
  EXPECT_LE(tx.value("unmatched", 0) * 100, tx.value("matched", 0));
}

// Issue 5: real TCP connections from every region to PoP p's listener,
// captured with dumpcap inside the PoP's namespace; `vantagectl pcap-rtt`
// per client prefix (the regions are in different /24s): median RTT within
// max(50 us, 1%) of the configured round trip.
TEST_F(LabAccuracyTest, PassiveRttPerPrefixMedian) {
  // The PoP's interface towards the regions: the one holding its address.
  const CommandResult addr =
      Run(InNs("p", {"ip", "-o", "-4", "addr", "show", "to", kPop}), absl::Seconds(10));
  const std::vector<std::string> fields = absl::StrSplit(addr.output, ' ', absl::SkipEmpty());
  ASSERT_GE(fields.size(), 2u) << addr.output;
  const std::string& interface = fields[1];
  const std::string pcap = work() + "/pop.pcap";
  const std::string log = work() + "/dumpcap.log";
  const pid_t dumpcap = SpawnInNs(
      "p",
      {"dumpcap", "-i", interface, "-P", "-f", absl::StrCat("tcp port ", kTcpPort), "-w", pcap},
      log);
  ASSERT_GT(dumpcap, 0);
  for (int i = 0; i < 100 && ReadFile(log).find("Capturing on") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_THAT(ReadFile(log), HasSubstr("Capturing on"));

  // 60 connections per region, 10 ms apart, each reading the listener's
  // banner until it closes; all regions at once.
  constexpr int kConnections = 60;
  const std::string script =
      absl::StrCat("for i in $(seq ", kConnections, "); do (exec 3<>/dev/tcp/", kPop, "/", kTcpPort,
                   " && timeout 5 cat <&3 >/dev/null) & sleep 0.01; done; wait");
  InEveryRegion("tcp", [&](const Region&) {
    return std::vector<std::string>{"bash", "-c", script};
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  StopSpawned(dumpcap, SIGINT);

  const CommandResult rtt = Run({VANTAGECTL_PATH, "pcap-rtt", "--json", "--per-sample", "--local",
                                 "198.18.1.0/24", "--local-port", absl::StrCat(kTcpPort), pcap},
                                absl::Seconds(60));
  ASSERT_EQ(rtt.exit_code, 0) << rtt.output;
  const nlohmann::json j = ParseJson(rtt.output);
  ASSERT_TRUE(j.is_object() && j.contains("samples")) << rtt.output;
  // Every sample of the client leg (server's packet -> client's answer, the
  // round trip through the emulated link) by (client, method): exact medians.
  std::map<std::pair<std::string, std::string>, std::vector<double>> samples;
  for (const nlohmann::json& s : j["samples"]) {
    if (s["leg"] != "client") continue;
    samples[{s["client"].get<std::string>(), s["method"].get<std::string>()}].push_back(
        s["rtt_us"].get<double>());
  }
  std::vector<Row> rows;
  for (const std::string method : {"handshake", "timestamp"}) {
    for (const Region& r : kRegions) {
      // r0's timestamp-echo samples are no round trip: at 0 ms many of them
      // wait for the client's next segment.
      if (r.rtt_ms == 0 && method == "timestamp") continue;
      const std::vector<double>& v = samples[{r.host, method}];
      EXPECT_GE(v.size(), static_cast<size_t>(kConnections) * 9 / 10) << method << " " << r.name;
      Row row;
      row.method = method;
      row.path = r.name;
      row.configured_us = row.expected_us = r.rtt_ms * 1000;
      row.median_us = Median(v);
      row.samples = v.size();
      row.bound_us = r.rtt_ms == 0 ? 0 : std::max(50.0, 0.01 * row.configured_us);
      rows.push_back(row);
    }
  }
  PrintTable("passive RTT per client prefix: median vs configured (issue 5)", rows);
  for (const Row& r : rows) ExpectWithinBound(r);
}

// Issue 6: `vantagectl dns` from each region to the anycast DNS address:
// median query time within max(50 us, 1%) of the round trip plus nsd's own
// answer time (the same query from inside the PoP's namespace, where the
// anycast address is local); the catchment (NSID) follows set-catchment.
TEST_F(LabAccuracyTest, DnsMedianQueryTimeAndCatchment) {
  auto dns = [&](const std::string& node, int count) {
    const CommandResult r =
        Run(InNs(node, {VANTAGECTL_PATH, "dns", "--json", "--nsid", "--server", kAnycastDns,
                        "--name", "lab.vantage.test", "--type", "SOA", "--count",
                        absl::StrCat(count), "--interval", "10", "--timeout", "1000"}),
            absl::Seconds(60));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const nlohmann::json j = ParseJson(r.output);
    EXPECT_TRUE(j.is_object() && j.contains("summary")) << r.output;
    return j.is_object() && j.contains("summary") ? j : nlohmann::json::object();
  };
  auto catchments = [](const nlohmann::json& j) {
    return j.contains("summary") ? j["summary"]["catchments"].dump() : std::string("none");
  };

  // Rounds over nsd on loopback (from inside PoP p) and every region, so
  // that all of them span the same stretch of (shared, noisy) machine time;
  // every query's time is kept for exact medians.
  constexpr int kRounds = 3;
  constexpr int kCount = 100;
  std::map<std::string, std::vector<double>> times;
  std::vector<std::string> nodes = {"p"};
  for (const Region& r : kRegions) nodes.push_back(r.name);
  for (int round = 0; round < kRounds; ++round) {
    for (const std::string& node : nodes) {
      const nlohmann::json j = dns(node, kCount);
      EXPECT_EQ(j["summary"].value("answered", 0), kCount) << node;
      EXPECT_EQ(catchments(j), absl::StrCat("{\"p\":", kCount, "}")) << node;
      for (const nlohmann::json& q : j["queries"]) {
        if (q.contains("time_us")) times[node].push_back(q["time_us"].get<double>());
      }
    }
  }
  const double nsd_us = Median(times["p"]);
  std::vector<Row> rows;
  Row local;
  local.method = "dns";
  local.path = "p(lo)";
  local.median_us = nsd_us;
  local.samples = times["p"].size();
  local.peer = "nsd's own answer time (loopback, inside PoP p)";
  rows.push_back(local);
  for (const Region& r : kRegions) {
    Row row;
    row.method = "dns";
    row.path = r.name;
    row.configured_us = r.rtt_ms * 1000;
    row.expected_us = row.configured_us + nsd_us;
    row.median_us = Median(times[r.name]);
    row.samples = times[r.name].size();
    row.bound_us = r.rtt_ms == 0 ? 0 : std::max(50.0, 0.01 * row.configured_us);
    rows.push_back(row);
  }
  PrintTable("DNS query time: median vs configured RTT + nsd's own time (issue 6)", rows);
  for (const Row& r : rows) ExpectWithinBound(r);

  // Catchment: r1 moves from p to q and back; the NSID follows at once.
  ASSERT_EQ(Lab({"set-catchment", "--region", "r1", "--pop", "q"}).exit_code, 0);
  EXPECT_EQ(catchments(dns("r1", 5)), "{\"q\":5}");
  ASSERT_EQ(Lab({"set-catchment", "--region", "r1", "--pop", "p"}).exit_code, 0);
  EXPECT_EQ(catchments(dns("r1", 5)), "{\"p\":5}");
}

}  // namespace
}  // namespace vantage
