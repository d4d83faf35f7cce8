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
#include "lab/bgp_daemons.h"
#include "lab/command_runner.h"
#include "nlohmann/json.hpp"
#include "push/exabgp_adapter.h"
#include "push/pusher.h"

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

lab::SystemCommandRunner g_runner;

// next hop -> weight of `prefix` in the router's FIB (a single path: weight 1).
std::map<std::string, int> Fib(const std::string& prefix) {
  return lab::ReadFibWeights(&g_runner, kRouterNs, prefix).value_or(std::map<std::string, int>{});
}

// next hop -> link-bandwidth value of the BGP paths for `prefix`.
std::map<std::string, uint64_t> BgpBandwidths(const std::string& prefix) {
  return lab::ReadLinkBandwidths(&g_runner, kDir, prefix)
      .value_or(std::map<std::string, uint64_t>{});
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
    lab::BgpDaemonsConfig bgp;
    bgp.dir = kDir;
    bgp.router_ns = kRouterNs;
    bgp.speaker_ns = kPopNs;
    bgp.router_id = *IpAddress::Parse("198.18.1.1");
    for (int i = 1; i <= 2; ++i) {
      bgp.sessions.push_back(
          {absl::StrCat("pop", i), *IpAddress::Parse(absl::StrCat("198.18.", i, ".1")),
           *IpAddress::Parse(absl::StrCat("198.18.", i, ".2")), static_cast<uint32_t>(65000 + i)});
    }
    bgp.relay_command = absl::StrCat(VANTAGE_EXABGP_RELAY, " --socket ", kDir, "/exa.sock");
    auto adapter = ExabgpAdapter::Create(kDir + "/exa.sock");
    ok_ = ok_ && adapter.ok();
    if (ok_) adapter_ = adapter->release();
    const uint64_t before = ok_ ? adapter_->connections() : 0;
    auto daemons = lab::BgpDaemons::Start(bgp, &g_runner);
    ok_ = ok_ && daemons.ok();
    if (daemons.ok()) daemons_ = daemons->release();
    ok_ = ok_ && WaitForRelay(before);
  }

  static bool WaitForRelay(uint64_t before) {
    for (int i = 0; i < 1000 && adapter_->connections() == before; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return adapter_->connections() > before;
  }

  static bool StartExabgp() {
    const uint64_t before = adapter_->connections();
    return daemons_->StartExabgp().ok() && WaitForRelay(before);
  }

  static void Cleanup() {
    if (adapter_ == nullptr && daemons_ == nullptr && !std::filesystem::exists(kDir)) return;
    delete daemons_;  // stops ExaBGP, bgpd, zebra
    daemons_ = nullptr;
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
  static inline lab::BgpDaemons* daemons_ = nullptr;
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
  daemons_->StopExabgp();
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
