// The lab against peer tools: brings a real lab up with vantage-lab (network
// namespaces, TUN devices, nsd), measures it with iputils ping and dig, and
// checks that vantage-lab down leaves no namespace and no process behind.
// Needs root and /dev/net/tun; skipped otherwise. Only namespaces this test
// creates (prefix vtt<pid>-) are touched.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lab/command_runner.h"
#include "lab/run_state.h"

namespace vantage::lab {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The interval [lo, hi] holding the count of lost probes out of n with
// probability >= 1 - alpha (at most alpha/2 cut from each tail).
std::pair<int, int> BinomialInterval(int n, double p, double alpha) {
  if (p <= 0) return {0, 0};
  std::vector<double> pmf(static_cast<size_t>(n) + 1);
  for (int k = 0; k <= n; ++k) {
    pmf[k] = std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                      k * std::log(p) + (n - k) * std::log1p(-p));
  }
  int lo = 0;
  double tail = 0;
  while (lo < n && tail + pmf[lo] <= alpha / 2) tail += pmf[lo++];
  int hi = n;
  tail = 0;
  while (hi > 0 && tail + pmf[hi] <= alpha / 2) tail += pmf[hi--];
  return {lo, hi};
}

struct PingResult {
  int transmitted = 0;
  int received = 0;
  double median_ms = 0;
};

PingResult ParsePing(const std::string& output) {
  PingResult r;
  std::vector<double> rtts;
  static const std::regex kTime(R"(time=([0-9.]+) ms)");
  static const std::regex kSummary(R"((\d+) packets transmitted, (\d+) received)");
  for (auto it = std::sregex_iterator(output.begin(), output.end(), kTime);
       it != std::sregex_iterator(); ++it) {
    rtts.push_back(std::stod((*it)[1]));
  }
  std::smatch m;
  if (std::regex_search(output, m, kSummary)) {
    r.transmitted = std::stoi(m[1]);
    r.received = std::stoi(m[2]);
  }
  if (!rtts.empty()) {
    std::sort(rtts.begin(), rtts.end());
    const size_t n = rtts.size();
    r.median_ms = n % 2 ? rtts[n / 2] : (rtts[n / 2 - 1] + rtts[n / 2]) / 2;
  }
  return r;
}

bool Alive(pid_t pid) {
  // Zombies (already ended, waiting for their parent) count as gone.
  return ProcessStartTime(pid) != 0;
}

// Live processes whose command line mentions `needle`.
std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> found;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == getpid() || !Alive(pid)) continue;
    std::string cmdline = ReadFile(e.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos)
      found.push_back(absl::StrCat(name, ": ", cmdline));
  }
  return found;
}

class LabIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0 || !fs::exists("/dev/net/tun")) {
      GTEST_SKIP() << "needs root and /dev/net/tun";
    }
    for (const char* tool : {"ip", "nsd", "ping", "dig"}) {
      absl::StatusOr<CommandResult> r =
          runner_.Run({"sh", "-c", absl::StrCat("command -v ", tool)}, absl::Seconds(5));
      if (!r.ok() || r->exit_code != 0) GTEST_SKIP() << tool << " is not installed";
    }
    prefix_ = absl::StrCat("vtt", getpid(), "-");
    work_ = absl::StrCat(fs::temp_directory_path().string(), "/vantage-lab-test-", getpid());
    run_dir_ = work_ + "/run";
    fs::create_directories(work_);
    namespaces_before_ = NamespaceList();
    started_ = true;
  }

  void TearDown() override {
    if (!started_) return;
    Lab({"down"});  // also after a failure: never leave the namespaces behind
    std::error_code ec;
    fs::remove_all(work_, ec);
  }

  CommandResult Run(const std::vector<std::string>& argv, absl::Duration timeout) {
    absl::StatusOr<CommandResult> r = runner_.Run(argv, timeout);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{-1, r.status().ToString()};
  }

  CommandResult Lab(std::vector<std::string> args) {
    args.insert(args.begin(), VANTAGE_LAB_BINARY);
    args.insert(args.end(), {"--run-dir", run_dir_});
    return Run(args, absl::Seconds(90));
  }

  std::vector<std::string> InNs(const std::string& node, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", prefix_ + node});
    return argv;
  }

  nlohmann::json Status() {
    CommandResult r = Lab({"status", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  }

  // The emulator's count of packets lost from `from` to `to`.
  static int64_t LinkLost(const nlohmann::json& status, const std::string& from,
                          const std::string& to) {
    for (const nlohmann::json& l : status["emulator"]["links"]) {
      if (l["from"] == from && l["to"] == to) return l["lost"].get<int64_t>();
    }
    ADD_FAILURE() << "no link " << from << " -> " << to;
    return -1;
  }

  std::string NamespaceList() { return Run({"ip", "netns", "list"}, absl::Seconds(10)).output; }

  std::string WriteTopology(const std::string& text) {
    std::string path = work_ + "/topology.yaml";
    std::ofstream(path) << text;
    return path;
  }

  // Takes the lab down and checks nothing it made is left.
  void DownAndCheckClean() {
    absl::StatusOr<RunState> state = RunState::Load(run_dir_ + "/state.json");
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_FALSE(state->processes.empty());
    CommandResult down = Lab({"down"});
    EXPECT_EQ(down.exit_code, 0) << down.output;
    // Only our own namespaces are checked: other users of the machine may
    // add or remove theirs meanwhile.
    const std::string after = NamespaceList();
    EXPECT_THAT(after, ::testing::Not(HasSubstr(prefix_)));
    for (absl::string_view ns : absl::StrSplit(namespaces_before_, '\n', absl::SkipEmpty())) {
      EXPECT_THAT(std::string(ns), ::testing::Not(HasSubstr(prefix_)));
    }
    for (const RecordedProcess& p : state->processes) {
      EXPECT_FALSE(Alive(p.pid)) << p.role << " " << p.node << " pid " << p.pid << " survived";
    }
    EXPECT_THAT(ProcessesMentioning(run_dir_), ::testing::IsEmpty());
    EXPECT_FALSE(fs::exists(run_dir_));
  }

  SystemCommandRunner runner_;
  bool started_ = false;
  std::string prefix_;
  std::string work_;
  std::string run_dir_;
  std::string namespaces_before_;
};

// Regions r0..r2 have round trips of 5, 20 and 80 ms to every PoP; PoPs
// p0..p2 lose 0%, 1% and 10% of the packets sent to them, so the nine
// region->PoP paths cover every combination and are measured at once.
constexpr double kRttMs[] = {5, 20, 80};
constexpr double kLoss[] = {0, 0.01, 0.10};

std::string NineLinkTopology() {
  std::string t = "services: {dns_zone: lab.vantage.test, tcp_port: 80}\npops:\n";
  for (int p = 0; p < 3; ++p) {
    absl::StrAppend(&t, "  - {name: p", p, ", addresses: [198.18.1.", p + 1,
                    ", \"2001:db8:1::", p + 1,
                    "\"], services: [198.19.0.53, \"2001:db8:53::53\"]}\n");
  }
  t += "regions:\n";
  for (int r = 0; r < 3; ++r) {
    absl::StrAppend(&t, "  - {name: r", r, ", addresses: [198.18.2.", r + 1,
                    ", \"2001:db8:2::", r + 1, "\"], catchment: p0}\n");
  }
  t += "links:\n";
  for (int r = 0; r < 3; ++r) {
    for (int p = 0; p < 3; ++p) {
      absl::StrAppend(&t, "  - {pop: p", p, ", region: r", r, ", delay_ms: ", kRttMs[r] / 2,
                      ", to_pop: {loss: ", kLoss[p], "}}\n");
    }
  }
  return t;
}

std::string Nsid(const std::string& dig_output) {
  static const std::regex kNsid(R"re(NSID: [0-9a-f ]+\("([^"]*)"\))re");
  std::smatch m;
  return std::regex_search(dig_output, m, kNsid) ? std::string(m[1]) : std::string();
}

TEST_F(LabIntegrationTest, PingAndDigAgreeWithTheTopologyAndDownCleansUp) {
  const std::string topology = WriteTopology(NineLinkTopology());
  CommandResult up = Lab({"up", "--topology", topology, "--prefix", prefix_});
  ASSERT_EQ(up.exit_code, 0) << up.output;

  const nlohmann::json before_pings = Status();
  // Nine pings in parallel, 1000 probes each, 100 per second.
  constexpr int kCount = 1000;
  std::vector<std::pair<pid_t, std::string>> pings;
  for (int r = 0; r < 3; ++r) {
    for (int p = 0; p < 3; ++p) {
      const std::string log = absl::StrCat(work_, "/ping-r", r, "-p", p, ".log");
      absl::StatusOr<pid_t> pid = runner_.Spawn(
          InNs(absl::StrCat("r", r), {"ping", "-n", "-c", absl::StrCat(kCount), "-i", "0.01", "-W",
                                      "2", absl::StrCat("198.18.1.", p + 1)}),
          log);
      ASSERT_TRUE(pid.ok()) << pid.status();
      pings.emplace_back(*pid, log);
    }
  }
  for (auto& [pid, log] : pings) {
    int status = 0;
    waitpid(pid, &status, 0);
  }
  const nlohmann::json after_pings = Status();
  for (int r = 0; r < 3; ++r) {
    for (int p = 0; p < 3; ++p) {
      const PingResult result = ParsePing(ReadFile(pings[r * 3 + p].second));
      std::cout << "r" << r << " -> p" << p << ": configured RTT " << kRttMs[r] << " ms, loss "
                << kLoss[p] << " | ping median " << result.median_ms << " ms, lost "
                << result.transmitted - result.received << "/" << result.transmitted << "\n";
      SCOPED_TRACE(absl::StrCat("r", r, " -> p", p, ": configured RTT ", kRttMs[r], " ms, loss ",
                                kLoss[p], "; measured median ", result.median_ms, " ms, ",
                                result.transmitted - result.received, " lost of ",
                                result.transmitted));
      EXPECT_EQ(result.transmitted, kCount);
      EXPECT_NEAR(result.median_ms, kRttMs[r], std::max(0.2, 0.02 * kRttMs[r]));
      // 99% for the test as a whole: six lossy paths, each checked at
      // 1 - 1%/6 (Bonferroni), so a correct emulator fails at most 1% of runs.
      const auto [lo, hi] = BinomialInterval(kCount, kLoss[p], 0.01 / 6);
      const int lost = result.transmitted - result.received;
      EXPECT_GE(lost, lo);
      EXPECT_LE(lost, hi);
      // Every probe ping missed is one the emulator dropped on that path.
      EXPECT_EQ(lost, LinkLost(after_pings, absl::StrCat("r", r), absl::StrCat("p", p)) -
                          LinkLost(before_pings, absl::StrCat("r", r), absl::StrCat("p", p)));
    }
  }

  // Anycast DNS: r0's catchment is p0, then p1 after set-catchment.
  const std::vector<std::string> dig = {
      "dig", "+nsid", "+time=2", "+tries=3", "@198.19.0.53", "lab.vantage.test", "SOA"};
  CommandResult before = Run(InNs("r0", dig), absl::Seconds(20));
  EXPECT_EQ(Nsid(before.output), "p0") << before.output;
  CommandResult moved = Lab({"set-catchment", "--region", "r0", "--pop", "p1"});
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  CommandResult after = Run(InNs("r0", dig), absl::Seconds(20));
  EXPECT_EQ(Nsid(after.output), "p1") << after.output;
  std::vector<std::string> dig6 = dig;
  dig6[4] = "@2001:db8:53::53";
  CommandResult after6 = Run(InNs("r0", dig6), absl::Seconds(20));
  EXPECT_EQ(Nsid(after6.output), "p1") << after6.output;

  // The TCP listener of the catchment PoP answers on the anycast address.
  CommandResult tcp =
      Run(InNs("r0", {"bash", "-c", "exec 3<>/dev/tcp/198.19.0.53/80 && timeout 5 cat <&3"}),
          absl::Seconds(10));
  EXPECT_EQ(tcp.output, "vantage-lab p1\n");

  // set-link takes effect at once: r1 <-> p0 goes from 20 ms to 30 ms RTT.
  CommandResult set =
      Lab({"set-link", "--pop", "p0", "--region", "r1", "--delay-ms", "15", "--direction", "both"});
  ASSERT_EQ(set.exit_code, 0) << set.output;
  const PingResult changed =
      ParsePing(Run(InNs("r1", {"ping", "-n", "-c", "30", "-i", "0.02", "-W", "2", "198.18.1.1"}),
                    absl::Seconds(20))
                    .output);
  EXPECT_NEAR(changed.median_ms, 30.0, 0.6);

  // status --json reports the counters the pings produced.
  CommandResult status = Lab({"status", "--json"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_THAT(status.output, HasSubstr("\"r2\""));
  EXPECT_THAT(status.output, HasSubstr("\"r0\": \"p1\""));

  DownAndCheckClean();
}

TEST_F(LabIntegrationTest, DownCleansUpAfterTheEmulatorCrashed) {
  const std::string topology = WriteTopology(
      "pops: [{name: a, addresses: [198.18.1.1], services: [198.19.0.53]}]\n"
      "regions: [{name: r, addresses: [198.18.2.1]}]\n"
      "links: [{pop: a, region: r, delay_ms: 1}]\n");
  CommandResult up = Lab({"up", "--topology", topology, "--prefix", prefix_});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  absl::StatusOr<RunState> state = RunState::Load(run_dir_ + "/state.json");
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->processes.front().role, "emulator");
  kill(state->processes.front().pid, SIGKILL);
  // A second up must refuse while the old lab is still recorded.
  CommandResult again = Lab({"up", "--topology", topology, "--prefix", prefix_});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.output, HasSubstr("down"));
  DownAndCheckClean();
}

}  // namespace
}  // namespace vantage::lab
