// Pushes weights through the real ExaBGP adapter into FRR (zebra + bgpd) and
// checks the kernel FIB of the router namespace: link-bandwidth communities,
// weighted ECMP proportional to our weights, changes, withdraws, a refused
// withdraw-everywhere, an ExaBGP restart, IPv6.
//
// Topology (namespaces created here, removed on exit):
//   vtt<pid>bgp-r (FRR, AS 65000) --veth-- vtt<pid>bgp-p (ExaBGP)
//     198.18.1.1/30, 2001:db8:1::1/64  <->  198.18.1.2, 2001:db8:1::2  (PoP a, AS 65001)
//     198.18.2.1/30, 2001:db8:2::1/64  <->  198.18.2.2, 2001:db8:2::2  (PoP b, AS 65002)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/clock.h"
#include "nlohmann/json.hpp"
#include "push/exabgp_adapter.h"
#include "push/pusher.h"

extern char** environ;

namespace vantage::push {
namespace {

const std::string kTag = absl::StrCat("vtt", getpid(), "bgp");
const std::string kRouterNs = kTag + "-r";
const std::string kPopNs = kTag + "-p";
const std::string kDir = "/tmp/" + kTag;
const char* kV4 = "198.18.100.0/24";
const char* kV6 = "2001:db8:100::/48";

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

bool Sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

void StopChild(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

void KillPidFile(const std::string& path) {
  std::ifstream in(path);
  int pid = 0;
  if (in >> pid && pid > 0) {
    kill(pid, SIGTERM);
    for (int i = 0; i < 200 && kill(pid, 0) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
  }
}

// next hop -> weight of `prefix` in the router's FIB (a single path: weight 1).
std::map<std::string, int> Fib(const std::string& prefix) {
  const std::string fam = prefix.find(':') != std::string::npos ? "-6 " : "";
  std::string out = RunCommand(absl::StrCat("ip -n ", kRouterNs, " ", fam, "route show ", prefix));
  std::map<std::string, int> fib;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
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

// next hop -> link-bandwidth value of the BGP paths for `prefix`.
std::map<std::string, uint64_t> BgpBandwidths(const std::string& prefix) {
  const std::string afi = prefix.find(':') != std::string::npos ? "ipv6" : "ipv4";
  std::string out = RunCommand(absl::StrCat("vtysh --vty_socket ", kDir, " -c 'show bgp ", afi,
                                            " unicast ", prefix, " json'"));
  std::map<std::string, uint64_t> bw;
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || !j.contains("paths")) return bw;
  for (const auto& p : j["paths"]) {
    std::string ec = p.value("extendedCommunity", nlohmann::json::object()).value("string", "");
    // "LB:65001:750 (6.000 Kbps)"
    std::vector<std::string> parts = absl::StrSplit(ec, absl::ByAnyChar(": "));
    uint64_t v = 0;
    if (parts.size() >= 3 && parts[0] == "LB") (void)absl::SimpleAtoi(parts[2], &v);
    bw[p["nexthops"][0]["ip"].get<std::string>()] = v;
  }
  return bw;
}

IntendedState State(double a, double b) {
  IntendedState s;
  s.asn = 65001;
  s.full_bandwidth_bytes_per_s = 1e6;
  auto ip = [](const char* t) { return *IpAddress::Parse(t); };
  PrefixIntent v4{"eu", *Prefix::Parse(kV4), {}};
  v4.routes = {{"a", ip("198.18.1.1"), ip("198.18.1.2"), a},
               {"b", ip("198.18.2.1"), ip("198.18.2.2"), b}};
  PrefixIntent v6{"eu6", *Prefix::Parse(kV6), {}};
  v6.routes = {{"a", ip("198.18.1.1"), ip("2001:db8:1::2"), a},
               {"b", ip("198.18.2.1"), ip("2001:db8:2::2"), b}};
  s.prefixes = {v4, v6};
  Canonicalize(s);
  return s;
}

// True when `fib` matches the weights (a, b) within FRR's rounding: each
// next hop's share of the FIB weights within 0.02 of ours; weight 0 absent.
bool Matches(const std::map<std::string, int>& fib, const std::string& nh_a, double a,
             const std::string& nh_b, double b) {
  int total = 0;
  for (const auto& [nh, w] : fib) total += w;
  if (total == 0) return false;
  auto share = [&](const std::string& nh) {
    auto it = fib.find(nh);
    return it == fib.end() ? 0.0 : static_cast<double>(it->second) / total;
  };
  if ((a == 0) != (fib.count(nh_a) == 0) || (b == 0) != (fib.count(nh_b) == 0)) return false;
  return std::abs(share(nh_a) - a) <= 0.02 && std::abs(share(nh_b) - b) <= 0.02 &&
         fib.size() == static_cast<size_t>((a > 0) + (b > 0));
}

// Waits (bounded) until both prefixes match; returns the time it took, or -1.
double WaitForFib(double a, double b, double timeout_s = 15) {
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (Matches(Fib(kV4), "198.18.1.2", a, "198.18.2.2", b) &&
        Matches(Fib(kV6), "2001:db8:1::2", a, "2001:db8:2::2", b)) {
      return t;
    }
    if (t > timeout_s) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

class PushIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0 || access("/usr/lib/frr/bgpd", X_OK) != 0 ||
        !Sh("command -v exabgp >/dev/null")) {
      skip_ = true;
      return;
    }
    std::atexit(Cleanup);  // also on a failed ASSERT in a later step
    std::filesystem::create_directories(kDir);
    ok_ = Sh(absl::StrCat("ip netns add ", kRouterNs)) && Sh(absl::StrCat("ip netns add ", kPopNs));
    for (int i = 1; ok_ && i <= 2; ++i) {
      const std::string r = absl::StrCat(kTag, "r", i), p = absl::StrCat(kTag, "p", i);
      ok_ = Sh(absl::StrCat("ip link add ", r, " netns ", kRouterNs, " type veth peer name ", p,
                            " netns ", kPopNs)) &&
            Sh(absl::StrCat("ip -n ", kRouterNs, " addr add 198.18.", i, ".1/30 dev ", r)) &&
            Sh(absl::StrCat("ip -n ", kPopNs, " addr add 198.18.", i, ".2/30 dev ", p)) &&
            Sh(absl::StrCat("ip -n ", kRouterNs, " -6 addr add 2001:db8:", i, "::1/64 dev ", r,
                            " nodad")) &&
            Sh(absl::StrCat("ip -n ", kPopNs, " -6 addr add 2001:db8:", i, "::2/64 dev ", p,
                            " nodad")) &&
            Sh(absl::StrCat("ip -n ", kRouterNs, " link set ", r, " up")) &&
            Sh(absl::StrCat("ip -n ", kPopNs, " link set ", p, " up"));
    }
    if (!ok_) return;
    std::ofstream(kDir + "/zebra.conf") << "hostname r\n";
    std::ofstream(kDir + "/bgpd.conf") << "frr defaults traditional\n"
                                          "hostname r\n"
                                          "router bgp 65000\n"
                                          " bgp router-id 198.18.1.1\n"
                                          " no bgp ebgp-requires-policy\n"
                                          " bgp bestpath as-path multipath-relax\n"
                                          " neighbor 198.18.1.2 remote-as 65001\n"
                                          " neighbor 198.18.1.2 timers connect 1\n"
                                          " neighbor 198.18.2.2 remote-as 65002\n"
                                          " neighbor 198.18.2.2 timers connect 1\n"
                                          " address-family ipv4 unicast\n"
                                          "  maximum-paths 8\n"
                                          " exit-address-family\n"
                                          " address-family ipv6 unicast\n"
                                          "  neighbor 198.18.1.2 activate\n"
                                          "  neighbor 198.18.2.2 activate\n"
                                          "  maximum-paths 8\n"
                                          " exit-address-family\n";
    std::string exa = absl::StrCat("process vantage {\n  run ", VANTAGE_EXABGP_RELAY, " --socket ",
                                   kDir, "/exa.sock;\n  encoder text;\n}\n");
    for (int i = 1; i <= 2; ++i) {
      absl::StrAppend(&exa, "neighbor 198.18.", i, ".1 {\n  router-id 198.18.", i,
                      ".2;\n  local-address 198.18.", i, ".2;\n  local-as 6500", i,
                      ";\n  peer-as 65000;\n  family { ipv4 unicast; ipv6 unicast; }\n",
                      "  api { processes [ vantage ]; }\n}\n");
    }
    std::ofstream(kDir + "/exabgp.conf") << exa;
    ok_ = Sh(absl::StrCat("chown -R frr:frr ", kDir)) &&
          Sh(absl::StrCat("ip netns exec ", kRouterNs, " /usr/lib/frr/zebra -d -i ", kDir,
                          "/zebra.pid -z ", kDir, "/zserv.api --vty_socket ", kDir, " -f ", kDir,
                          "/zebra.conf >>", kDir, "/frr.log 2>&1"));
    for (int i = 0; ok_ && i < 200 && access((kDir + "/zserv.api").c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ok_ = ok_ && Sh(absl::StrCat("ip netns exec ", kRouterNs, " /usr/lib/frr/bgpd -d -i ", kDir,
                                 "/bgpd.pid -z ", kDir, "/zserv.api --vty_socket ", kDir, " -f ",
                                 kDir, "/bgpd.conf >>", kDir, "/frr.log 2>&1"));
    auto adapter = ExabgpAdapter::Create(kDir + "/exa.sock");
    ok_ = ok_ && adapter.ok();
    if (ok_) adapter_ = adapter->release();
    ok_ = ok_ && StartExabgp();
  }

  static bool StartExabgp() {
    const uint64_t before = adapter_->connections();
    exabgp_pid_ = Spawn({"ip", "netns", "exec", kPopNs, "env", "exabgp.daemon.user=root",
                         "exabgp.daemon.daemonize=false", "exabgp", kDir + "/exabgp.conf"},
                        kDir + "/exabgp.log");
    if (exabgp_pid_ <= 0) return false;
    for (int i = 0; i < 1000 && adapter_->connections() == before; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return adapter_->connections() > before;
  }

  static void Cleanup() {
    if (adapter_ == nullptr && exabgp_pid_ <= 0 && !std::filesystem::exists(kDir)) return;
    StopChild(exabgp_pid_);
    exabgp_pid_ = -1;
    KillPidFile(kDir + "/bgpd.pid");
    KillPidFile(kDir + "/zebra.pid");
    delete adapter_;
    adapter_ = nullptr;
    Sh(absl::StrCat("ip netns del ", kRouterNs, " 2>/dev/null"));
    Sh(absl::StrCat("ip netns del ", kPopNs, " 2>/dev/null"));
    if (std::getenv("VANTAGE_KEEP_TEST_DIR") == nullptr) std::filesystem::remove_all(kDir);
  }
  static void TearDownTestSuite() { Cleanup(); }

  void SetUp() override {
    if (skip_) GTEST_SKIP() << "needs root, FRR and ExaBGP";
    ASSERT_TRUE(ok_) << "lab setup failed; see " << kDir;
    GuardrailConfig g;
    g.max_weight_shift = 1;
    g.min_interval = absl::ZeroDuration();
    pusher_ = std::make_unique<Pusher>(adapter_, nullptr, &RealClock::Get(), g);
  }

  PushResult Push(double a, double b) {
    PushRequest r;
    r.proposed = State(a, b);
    r.trigger = "integration";
    r.telemetry_time = absl::Now();
    return pusher_->Push(r).result;
  }

  static inline bool skip_ = false;
  static inline bool ok_ = false;
  static inline ExabgpAdapter* adapter_ = nullptr;
  static inline pid_t exabgp_pid_ = -1;
  std::unique_ptr<Pusher> pusher_;
};

TEST_F(PushIntegrationTest, FibFollowsPushedWeights) {
  ASSERT_EQ(Push(0.75, 0.25), PushResult::kApplied);
  double t = WaitForFib(0.75, 0.25, 60);  // first push includes session establishment
  ASSERT_GE(t, 0) << "FIB v4: " << RunCommand("ip -n " + kRouterNs + " route show " + kV4);
  std::printf("first push (incl. BGP session setup) to FIB: %.3f s\n", t);

  // The BGP paths carry link-bandwidth in bytes/s proportional to the weights.
  auto bw = BgpBandwidths(kV4);
  EXPECT_EQ(bw["198.18.1.2"], 750000u);
  EXPECT_EQ(bw["198.18.2.2"], 250000u);
  auto bw6 = BgpBandwidths(kV6);
  EXPECT_EQ(bw6["2001:db8:1::2"], 750000u);
  EXPECT_EQ(bw6["2001:db8:2::2"], 250000u);
  auto fib = Fib(kV4);
  EXPECT_EQ(fib["198.18.1.2"], 75);
  EXPECT_EQ(fib["198.18.2.2"], 25);

  // Weight changes: the FIB follows; measure push -> FIB.
  std::vector<double> times;
  for (auto [a, b] :
       std::vector<std::pair<double, double>>{{0.3, 0.7}, {0.625, 0.375}, {0.5, 0.5}, {0.9, 0.1}}) {
    ASSERT_EQ(Push(a, b), PushResult::kApplied);
    double dt = WaitForFib(a, b);
    ASSERT_GE(dt, 0) << a << "/" << b << ": "
                     << RunCommand("ip -n " + kRouterNs + " route show " + kV4);
    times.push_back(dt);
    std::printf("push %.3f/%.3f -> FIB (v4 and v6): %.3f s\n", a, b, dt);
  }
  // Weight 0 withdraws that next hop.
  ASSERT_EQ(Push(1, 0), PushResult::kApplied);
  double dt = WaitForFib(1, 0);
  ASSERT_GE(dt, 0) << RunCommand("ip -n " + kRouterNs + " route show " + kV4);
  std::printf("withdraw b -> FIB: %.3f s\n", dt);
  EXPECT_EQ(BgpBandwidths(kV4).count("198.18.2.2"), 0u);
  times.push_back(dt);
  // A push that would withdraw every PoP is refused; the FIB stays.
  EXPECT_EQ(Push(0, 0), PushResult::kRefused);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(Matches(Fib(kV4), "198.18.1.2", 1, "198.18.2.2", 0));
  // Back to both.
  ASSERT_EQ(Push(0.25, 0.75), PushResult::kApplied);
  dt = WaitForFib(0.25, 0.75);
  ASSERT_GE(dt, 0);
  times.push_back(dt);
  double worst = 0;
  for (double x : times) worst = std::max(worst, x);
  std::printf("push -> FIB: worst %.3f s over %zu changes (goal <= 1 s)\n", worst, times.size());
  EXPECT_LE(worst, 1.0);
}

TEST_F(PushIntegrationTest, ExabgpRestartEndsWithTheSameFib) {
  ASSERT_EQ(Push(0.625, 0.375), PushResult::kApplied);
  ASSERT_GE(WaitForFib(0.625, 0.375, 60), 0);
  auto before4 = Fib(kV4);
  auto before6 = Fib(kV6);
  StopChild(exabgp_pid_);
  exabgp_pid_ = -1;
  // FRR drops the sessions' routes.
  for (int i = 0; i < 1000 && !Fib(kV4).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(Fib(kV4).empty());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(StartExabgp());
  double t = WaitForFib(0.625, 0.375, 60);
  ASSERT_GE(t, 0);
  std::printf("ExaBGP restart -> same FIB: %.3f s after the relay reconnected (%.3f s total)\n", t,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  EXPECT_EQ(Fib(kV4), before4);
  EXPECT_EQ(Fib(kV6), before6);
}

}  // namespace
}  // namespace vantage::push
