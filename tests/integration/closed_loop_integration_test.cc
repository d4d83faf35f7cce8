// The collector's closed loop end to end (issue 9): a real vantage-collector
// with a `control:` section receives probe windows over mutual TLS (from
// the probe's own Exporter), optimises, and pushes through ExaBGP into FRR
// in namespaces this test creates; FRR's FIB weights must equal the
// optimizer's, and a change in the reported RTTs must move the FIB.
//
// Topology (removed on exit, also on failure):
//   vtt<pid>cl-r: FRR (AS 65000) and ExaBGP, BGP sessions between /32s on lo
//                 (198.18.254.1<->.2 for PoP a, .5<->.6 for b); a veth with
//                 198.18.1.254/24 and 2001:db8:1::fffe/64 makes the PoPs' next
//                 hops (198.18.1.1 / .2, 2001:db8:1::1 / ::2) connected.
//   vtt<pid>cl-p: the veth's other end (holds the next-hop addresses).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/quantile_sketch.h"
#include "lab/bgp_daemons.h"
#include "lab/command_runner.h"
#include "nlohmann/json.hpp"
#include "probe/exporter.h"
#include "probe/spool.h"
#include "proto/vantage.pb.h"
#include "push/audit_log.h"
#include "tests/integration/daemon_test_util.h"

namespace vantage {
namespace {

namespace fs = std::filesystem;

const std::string kTag = absl::StrCat("vtt", getpid(), "cl");
const std::string kRouterNs = kTag + "-r";
const std::string kPopNs = kTag + "-p";
const std::string kDir = "/tmp/" + kTag;
const char* kEu = "198.19.10.0/24";
const char* kEu6 = "2001:db8:100::/48";
const char* kUs = "198.19.20.0/24";

bool Sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

lab::SystemCommandRunner g_runner;

std::map<std::string, int> Fib(const std::string& prefix) {
  return lab::ReadFibWeights(&g_runner, kRouterNs, prefix).value_or(std::map<std::string, int>{});
}

using testing::ScrapeMetrics;

// Shares of the FIB weights by next hop.
std::map<std::string, double> Shares(const std::map<std::string, int>& fib) {
  double total = 0;
  for (const auto& [nh, w] : fib) total += w;
  std::map<std::string, double> out;
  for (const auto& [nh, w] : fib) out[nh] = total > 0 ? w / total : 0;
  return out;
}

// next hop -> weight of `prefix` in an IntendedState JSON (weight > 0 only).
std::map<std::string, double> Pushed(const nlohmann::json& state, const std::string& prefix) {
  std::map<std::string, double> out;
  for (const auto& p : state["prefixes"]) {
    if (p["prefix"] != prefix) continue;
    for (const auto& r : p["routes"]) {
      if (r["weight"].get<double>() > 0) out[r["next_hop"]] = r["weight"].get<double>();
    }
  }
  return out;
}

// FIB shares equal the pushed weights within FRR's rounding (weights are
// integers out of ~100), with the same next hops.
bool FibMatches(const std::map<std::string, int>& fib, const std::map<std::string, double>& want) {
  auto shares = Shares(fib);
  if (shares.size() != want.size() || want.empty()) return false;
  for (const auto& [nh, w] : want) {
    auto it = shares.find(nh);
    if (it == shares.end() || std::abs(it->second - w) > 0.02) return false;
  }
  return true;
}

struct Rtts {
  double a_eu = 10, b_eu = 30, a_us = 70, b_us = 15;  // ms
};

class ClosedLoopIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0 || access("/usr/lib/frr/bgpd", X_OK) != 0 ||
        !Sh("command -v exabgp >/dev/null")) {
      skip_ = true;
      return;
    }
    std::atexit(Cleanup);
    fs::remove_all(kDir);
    fs::create_directories(kDir);
    const std::string r = kTag + "r", p = kTag + "p";
    ok_ = Sh("ip netns add " + kRouterNs) && Sh("ip netns add " + kPopNs) &&
          Sh(absl::StrCat("ip link add ", r, " netns ", kRouterNs, " type veth peer name ", p,
                          " netns ", kPopNs)) &&
          Sh(absl::StrCat("ip -n ", kRouterNs, " addr add 198.18.1.254/24 dev ", r)) &&
          Sh(absl::StrCat("ip -n ", kRouterNs, " -6 addr add 2001:db8:1::fffe/64 dev ", r,
                          " nodad")) &&
          Sh(absl::StrCat("ip -n ", kPopNs, " addr add 198.18.1.1/24 dev ", p)) &&
          Sh(absl::StrCat("ip -n ", kPopNs, " addr add 198.18.1.2/24 dev ", p)) &&
          Sh(absl::StrCat("ip -n ", kRouterNs, " link set ", r, " up")) &&
          Sh(absl::StrCat("ip -n ", kPopNs, " link set ", p, " up")) &&
          Sh(absl::StrCat("ip -n ", kRouterNs, " link set lo up"));
    for (const char* a : {"198.18.254.1", "198.18.254.2", "198.18.254.5", "198.18.254.6"}) {
      ok_ = ok_ && Sh(absl::StrCat("ip -n ", kRouterNs, " addr add ", a, "/32 dev lo"));
    }
    ok_ = ok_ &&
          Sh(std::string(VANTAGE_GEN_CERTS) + " " + kDir + "/certs probe-a probe-b >/dev/null");
    if (!ok_) return;

    // The collector first: it owns the ExaBGP relay's socket.
    std::ofstream(kDir + "/collector.yaml")
        << "listen: \"127.0.0.1:0\"\nmetrics_listen: \"127.0.0.1:0\"\ndatabase: " << kDir
        << "/collector.db\ntls: {cert: " << kDir << "/certs/collector.crt, key: " << kDir
        << "/certs/collector.key, client_ca: " << kDir << "/certs/ca.crt}\n"
        << "probes:\n  - {id: probe-a, pop: a}\n  - {id: probe-b, pop: b}\n"
        << "control:\n"
        << "  adapter: {type: exabgp, socket: " << kDir << "/exa.sock}\n"
        << "  asn: 65000\n  period: 2s\n  check_interval: 250ms\n  significant_change: 0.05\n"
        << "  max_series_age: 10s\n  n1_headroom: false\n  state_dir: " << kDir << "/state\n"
        << "  pops:\n"
        << "    - {name: a, capacity: 100, neighbor: 198.18.254.1, next_hop_v4: 198.18.1.1,"
           " next_hop_v6: \"2001:db8:1::1\"}\n"
        << "    - {name: b, capacity: 100, neighbor: 198.18.254.5, next_hop_v4: 198.18.1.2,"
           " next_hop_v6: \"2001:db8:1::2\"}\n"
        << "  regions:\n"
        << "    - {name: eu, demand: 100, prefixes: [198.18.10.0/24],"
           " service_prefixes: ["
        << kEu << ", \"" << kEu6 << "\"]}\n"
        << "    - {name: us, demand: 30, prefixes: [198.18.20.0/24], service_prefixes: [" << kUs
        << "]}\n"
        << "  guardrails: {max_weight_shift: 1, min_interval: 0s, max_telemetry_age: 30s}\n";
    auto pid = g_runner.Spawn({VANTAGE_COLLECTOR_BIN, "-c", kDir + "/collector.yaml",
                               "--ready-file", kDir + "/collector.ready"},
                              kDir + "/collector.log");
    ok_ = pid.ok();
    if (!ok_) return;
    collector_pid_ = *pid;
    for (int i = 0; i < 1000 && !fs::exists(kDir + "/collector.ready"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream ready(kDir + "/collector.ready");
    ok_ = static_cast<bool>(ready >> grpc_port_ >> metrics_port_);
    if (!ok_) return;

    lab::BgpDaemonsConfig bgp;
    bgp.dir = kDir + "/bgp";
    bgp.router_ns = kRouterNs;
    bgp.speaker_ns = kRouterNs;
    bgp.router_id = *IpAddress::Parse("198.18.1.254");
    bgp.sessions = {
        {"a", *IpAddress::Parse("198.18.254.1"), *IpAddress::Parse("198.18.254.2"), 65001},
        {"b", *IpAddress::Parse("198.18.254.5"), *IpAddress::Parse("198.18.254.6"), 65002}};
    bgp.relay_command = absl::StrCat(VANTAGE_EXABGP_RELAY, " --socket ", kDir, "/exa.sock");
    auto daemons = lab::BgpDaemons::Start(bgp, &g_runner);
    ok_ = daemons.ok();
    if (ok_) daemons_ = daemons->release();
  }

  static void Cleanup() {
    if (collector_pid_ <= 0 && daemons_ == nullptr && !fs::exists(kDir)) return;
    delete daemons_;
    daemons_ = nullptr;
    lab::StopProcess(collector_pid_, absl::Seconds(5));
    collector_pid_ = -1;
    Sh("ip netns del " + kRouterNs + " 2>/dev/null");
    Sh("ip netns del " + kPopNs + " 2>/dev/null");
    if (std::getenv("VANTAGE_KEEP_TEST_DIR") == nullptr) fs::remove_all(kDir);
  }
  static void TearDownTestSuite() { Cleanup(); }

  void SetUp() override {
    if (skip_) GTEST_SKIP() << "needs root, FRR and ExaBGP";
    ASSERT_TRUE(ok_) << "set-up failed; see " << kDir;
  }

  // Feeds one window per PoP every 250 ms with the current RTTs until stopped.
  void StartFeeding() {
    for (const std::string id : {"probe-a", "probe-b"}) {
      auto spool = probe::Spool::Open(absl::StrCat(kDir, "/spool-", id), 64 << 20);
      ASSERT_TRUE(spool.ok()) << spool.status();
      spools_[id] = std::move(*spool);
      probe::ExporterOptions o;
      o.target = absl::StrCat("127.0.0.1:", grpc_port_);
      o.ca_file = kDir + "/certs/ca.crt";
      o.cert_file = absl::StrCat(kDir, "/certs/", id, ".crt");
      o.key_file = absl::StrCat(kDir, "/certs/", id, ".key");
      o.min_backoff = absl::Milliseconds(50);
      o.max_backoff = absl::Milliseconds(500);
      exporters_[id] = std::make_unique<probe::Exporter>(spools_[id].get(), o);
      ASSERT_TRUE(exporters_[id]->Start().ok());
    }
    feeder_ = std::thread([this] {
      uint64_t n = 0;
      while (!stop_.load()) {
        Rtts rtts;
        {
          std::lock_guard<std::mutex> lock(mu_);
          rtts = rtts_;
        }
        for (const auto& [pop, eu, us] :
             {std::tuple<std::string, double, double>{"a", rtts.a_eu, rtts.a_us},
              {"b", rtts.b_eu, rtts.b_us}}) {
          v1::ProbeReport r;
          r.set_schema_version(1);
          std::string id(16, '\0');
          ++n;
          for (size_t i = 0; i < 8; ++i) id[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
          id[8] = pop[0];
          r.set_report_id(id);
          r.set_probe_id("probe-" + pop);
          r.set_pop(pop);
          const absl::Time end = absl::Now();
          r.set_window_start_unix_ns(absl::ToUnixNanos(end - absl::Seconds(1)));
          r.set_window_end_unix_ns(absl::ToUnixNanos(end));
          for (const auto& [target, ms] :
               {std::pair<std::string, double>{"198.18.10.1", eu}, {"198.18.20.1", us}}) {
            QuantileSketch sk;
            for (int i = 0; i < 20; ++i) sk.Add(ms * 1000 + i);
            auto* a = r.add_active();
            a->set_target(target);
            a->set_method(v1::METHOD_ICMP);
            a->set_sent(20);
            a->set_received(20);
            a->set_min_rtt_us(ms * 1000);
            a->set_rtt_sketch(sk.Serialize());
          }
          if (spools_[r.probe_id()]->Append(r.SerializeAsString()).ok()) {
            exporters_[r.probe_id()]->Notify();
          }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    });
  }

  void TearDown() override {
    stop_ = true;
    if (feeder_.joinable()) feeder_.join();
    exporters_.clear();
    spools_.clear();
  }

  static nlohmann::json Step() {
    std::ifstream in(kDir + "/state/step.json");
    return nlohmann::json::parse(in, nullptr, false);
  }

  // Waits until the FIB of every service prefix equals the collector's last
  // pushed state and `accept` accepts that state; returns the state or null.
  template <typename Accept>
  nlohmann::json WaitForFibToMatchPush(Accept accept, double timeout_s) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
           timeout_s) {
      auto step = Step();
      if (!step.is_discarded() && step.contains("pushed_state")) {
        const auto& s = step["pushed_state"];
        if (accept(s) && FibMatches(Fib(kEu), Pushed(s, kEu)) &&
            FibMatches(Fib(kEu6), Pushed(s, kEu6)) && FibMatches(Fib(kUs), Pushed(s, kUs))) {
          return s;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return nullptr;
  }

  static inline bool skip_ = false;
  static inline bool ok_ = false;
  static inline pid_t collector_pid_ = -1;
  static inline int grpc_port_ = 0;
  static inline int metrics_port_ = 0;
  static inline lab::BgpDaemons* daemons_ = nullptr;
  std::map<std::string, std::unique_ptr<probe::Spool>> spools_;
  std::map<std::string, std::unique_ptr<probe::Exporter>> exporters_;
  std::thread feeder_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  Rtts rtts_;
};

TEST_F(ClosedLoopIntegrationTest, FibFollowsTheOptimizerAndMovesWithTheRtts) {
  StartFeeding();
  // eu (demand 100) is nearer a, whose ceiling is 80: 0.8 a / 0.2 b; us on b.
  auto first = WaitForFibToMatchPush(
      [](const nlohmann::json& s) {
        auto w = Pushed(s, kEu);
        return w.count("198.18.1.1") && std::abs(w["198.18.1.1"] - 0.8) < 0.01;
      },
      90);
  ASSERT_FALSE(first.is_null()) << "FIB " << kEu << ": " << Fib(kEu).size() << " next hops; see "
                                << kDir;
  EXPECT_NEAR(Pushed(first, kEu)["198.18.1.2"], 0.2, 0.01);
  EXPECT_EQ(Pushed(first, kUs).size(), 1u);
  EXPECT_NEAR(Pushed(first, kUs)["198.18.1.2"], 1.0, 1e-9);
  EXPECT_NEAR(Shares(Fib(kEu6))["2001:db8:1::1"], 0.8, 0.02);
  // The BGP paths carry link-bandwidth proportional to the weights.
  auto bw = lab::ReadLinkBandwidths(&g_runner, kDir + "/bgp", kEu);
  ASSERT_TRUE(bw.ok()) << bw.status();
  // weight * 1.25e9 B/s, carried as an IEEE-754 single (24-bit mantissa).
  for (const auto& [nh, w] : Pushed(first, kEu)) {
    EXPECT_NEAR(static_cast<double>((*bw)[nh]), w * 1.25e9, w * 1.25e9 * 1e-7) << nh;
  }

  // eu's RTT to a degrades: b takes what it can of eu (ceiling 80 - us 30).
  const auto changed = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    rtts_.a_eu = 60;
  }
  auto second = WaitForFibToMatchPush(
      [](const nlohmann::json& s) {
        auto w = Pushed(s, kEu);
        return w.count("198.18.1.1") && std::abs(w["198.18.1.1"] - 0.5) < 0.01;
      },
      30);
  const double report_to_fib =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - changed).count();
  ASSERT_FALSE(second.is_null());
  EXPECT_NEAR(Pushed(second, kEu)["198.18.1.2"], 0.5, 0.01);

  // push -> FIB: the audit log's time of the applied push that made this state.
  auto audit = push::AuditLog::Open(kDir + "/collector.db");
  ASSERT_TRUE(audit.ok());
  auto recent = (*audit)->Recent(50);
  ASSERT_TRUE(recent.ok());
  absl::Time pushed_at = absl::InfinitePast();
  for (const auto& rec : *recent) {
    if (rec.result == "applied" && pushed_at == absl::InfinitePast() &&
        nlohmann::json::parse(rec.state_json) == second) {
      pushed_at = rec.time;
    }
  }
  ASSERT_NE(pushed_at, absl::InfinitePast());
  // The FIB matched at most 5 ms (poll) + one `ip route` before now.
  const double push_to_fib = absl::ToDoubleSeconds(absl::Now() - pushed_at);
  std::printf("closed loop: RTT change -> FIB %.3f s (check interval 0.25 s); push -> FIB %.3f s\n",
              report_to_fib, push_to_fib);
  EXPECT_LE(push_to_fib, 1.0);
  EXPECT_LE(report_to_fib, 5.0);

  // The loop's metrics: pushes by result, refusals, fail-static, last push age,
  // optimize duration — and the whole exposition passes promtool.
  const std::string metrics = ScrapeMetrics(static_cast<uint16_t>(metrics_port_));
  EXPECT_NE(metrics.find("vantage_push_attempts_total{result=\"applied\"}"), std::string::npos);
  EXPECT_NE(metrics.find("vantage_push_refusals_total{reason=\"stale_telemetry\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics.find("vantage_push_fail_static 0"), std::string::npos);
  EXPECT_NE(metrics.find("vantage_push_last_applied_age_seconds "), std::string::npos);
  EXPECT_NE(metrics.find("vantage_control_loop_optimize_seconds "), std::string::npos);
  std::ofstream(kDir + "/metrics.txt") << metrics;
  EXPECT_TRUE(Sh("promtool check metrics < " + kDir + "/metrics.txt")) << metrics;
}

}  // namespace
}  // namespace vantage
