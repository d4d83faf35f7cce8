#include "tests/lab/lab_fixture.h"

#include <gmock/gmock.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lab/run_state.h"

namespace vantage::lab::test {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::pair<int, int> BinomialInterval(int n, double p, double alpha) {
  if (p <= 0) return {0, 0};
  std::vector<double> pmf(static_cast<size_t>(n) + 1);
  for (int k = 0; k <= n; ++k) {
    pmf[static_cast<size_t>(k)] =
        std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) +
                 k * std::log(p) + (n - k) * std::log1p(-p));
  }
  int lo = 0;
  double tail = 0;
  while (lo < n && tail + pmf[static_cast<size_t>(lo)] <= alpha / 2) {
    tail += pmf[static_cast<size_t>(lo++)];
  }
  int hi = n;
  tail = 0;
  while (hi > 0 && tail + pmf[static_cast<size_t>(hi)] <= alpha / 2) {
    tail += pmf[static_cast<size_t>(hi--)];
  }
  return {lo, hi};
}

nlohmann::json ParseJson(const std::string& output) {
  const size_t start = output.find('{');
  if (start == std::string::npos) return nlohmann::json();
  return nlohmann::json::parse(output.substr(start), nullptr, /*allow_exceptions=*/false);
}

bool Alive(pid_t pid) { return ProcessStartTime(pid) != 0; }

std::vector<std::string> ProcessesMentioning(const std::string& needle) {
  std::vector<std::string> found;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (pid == getpid() || !Alive(pid)) continue;
    std::string cmdline = ReadFile(e.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) {
      found.push_back(absl::StrCat(name, ": ", cmdline));
    }
  }
  return found;
}

LabFixture::LabFixture(std::string tag, std::vector<std::string> tools)
    : tag_(std::move(tag)), tools_(std::move(tools)) {}

void LabFixture::SetUp() {
  if (geteuid() != 0 || !fs::exists("/dev/net/tun")) {
    GTEST_SKIP() << "needs root and /dev/net/tun";
  }
  for (const std::string& tool : tools_) {
    absl::StatusOr<CommandResult> r =
        runner_.Run({"sh", "-c", absl::StrCat("command -v ", tool)}, absl::Seconds(5));
    if (!r.ok() || r->exit_code != 0) GTEST_SKIP() << tool << " is not installed";
  }
  prefix_ = absl::StrCat("vtt", getpid(), tag_, "-");
  work_ = absl::StrCat(fs::temp_directory_path().string(), "/vantage-lab-", tag_, "-", getpid());
  run_dir_ = work_ + "/run";
  fs::create_directories(work_);
  namespaces_before_ = Run({"ip", "netns", "list"}, absl::Seconds(10)).output;
  prepared_ = true;
}

void LabFixture::TearDown() {
  if (!prepared_) return;
  for (pid_t pid : std::vector<pid_t>(spawned_)) StopSpawned(pid, SIGTERM);
  // Also after a failure: never leave the namespaces behind.
  if (up_) DownAndCheckClean();
  std::error_code ec;
  fs::remove_all(work_, ec);
}

bool LabFixture::Up(const std::string& topology_yaml) {
  const std::string topology = work_ + "/topology.yaml";
  std::ofstream(topology) << topology_yaml;
  up_ = true;  // a partial lab is taken down as well
  const CommandResult up = Lab({"up", "--topology", topology, "--prefix", prefix_});
  EXPECT_EQ(up.exit_code, 0) << up.output;
  return up.exit_code == 0;
}

void LabFixture::DownAndCheckClean() {
  up_ = false;
  absl::StatusOr<RunState> state = RunState::Load(run_dir_ + "/state.json");
  EXPECT_TRUE(state.ok()) << state.status();
  const CommandResult down = Lab({"down"});
  EXPECT_EQ(down.exit_code, 0) << down.output;
  // Only our own namespaces are checked: other users of the machine may add
  // or remove theirs meanwhile.
  EXPECT_THAT(Run({"ip", "netns", "list"}, absl::Seconds(10)).output, Not(HasSubstr(prefix_)));
  for (absl::string_view ns : absl::StrSplit(namespaces_before_, '\n', absl::SkipEmpty())) {
    EXPECT_THAT(std::string(ns), Not(HasSubstr(prefix_)));
  }
  if (state.ok()) {
    EXPECT_FALSE(state->processes.empty());
    for (const RecordedProcess& p : state->processes) {
      EXPECT_FALSE(Alive(p.pid)) << p.role << " " << p.node << " pid " << p.pid << " survived";
    }
  }
  EXPECT_THAT(ProcessesMentioning(run_dir_), ::testing::IsEmpty());
  EXPECT_THAT(ProcessesMentioning(prefix_), ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(run_dir_));
}

CommandResult LabFixture::Run(const std::vector<std::string>& argv, absl::Duration timeout) {
  absl::StatusOr<CommandResult> r = runner_.Run(argv, timeout);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : CommandResult{-1, r.status().ToString()};
}

CommandResult LabFixture::Lab(std::vector<std::string> args) {
  args.insert(args.begin(), VANTAGE_LAB_BINARY);
  args.insert(args.end(), {"--run-dir", run_dir_});
  return Run(args, absl::Seconds(90));
}

std::vector<std::string> LabFixture::InNs(const std::string& node,
                                          std::vector<std::string> argv) const {
  argv.insert(argv.begin(), {"ip", "netns", "exec", prefix_ + node});
  return argv;
}

pid_t LabFixture::SpawnInNs(const std::string& node, const std::vector<std::string>& argv,
                            const std::string& log) {
  absl::StatusOr<pid_t> pid = runner_.Spawn(InNs(node, argv), log);
  EXPECT_TRUE(pid.ok()) << pid.status();
  if (!pid.ok()) return -1;
  spawned_.push_back(*pid);
  return *pid;
}

void LabFixture::StopSpawned(pid_t pid, int sig) {
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
  spawned_.erase(std::remove(spawned_.begin(), spawned_.end(), pid), spawned_.end());
  EXPECT_FALSE(Alive(pid)) << "spawned pid " << pid << " survived";
}

bool LabFixture::WaitSpawned(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      spawned_.erase(std::remove(spawned_.begin(), spawned_.end(), pid), spawned_.end());
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void LabFixture::WaitForPath(const std::string& node, const std::string& target) {
  for (int i = 0; i < 20; ++i) {
    if (Run(InNs(node, {"ping", "-n", "-q", "-c", "1", "-W", "1", target}), absl::Seconds(5))
            .exit_code == 0) {
      return;
    }
  }
  ADD_FAILURE() << "no ping from " << node << " to " << target << " got through";
}

nlohmann::json LabFixture::LabStatus() {
  const CommandResult r = Lab({"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return ParseJson(r.output);
}

int64_t LabFixture::LinkLost(const nlohmann::json& status, const std::string& from,
                             const std::string& to) {
  if (status.is_object() && status.contains("emulator")) {
    for (const nlohmann::json& l : status["emulator"]["links"]) {
      if (l["from"] == from && l["to"] == to) return l["lost"].get<int64_t>();
    }
  }
  ADD_FAILURE() << "no link " << from << " -> " << to;
  return -1;
}

}  // namespace vantage::lab::test
