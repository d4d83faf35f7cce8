// LabFixture: the shared harness of the tests that bring a real lab up with
// the vantage-lab binary (network namespaces, TUN devices, nsd) and take it
// down again: a private namespace prefix (vtt<pid><tag>-) and run directory
// per test, commands run in a node's namespace (`ip netns exec`), background
// processes stopped at the end, the emulator's status and loss counters, and
// a check that `vantage-lab down` leaves no namespace, process or run
// directory behind (also after a failure). Skips the test without root,
// /dev/net/tun or one of the tools it needs. Plus the small statistics both
// the lab and the accuracy tests use.
//
// Thread model: gtest's; one fixture per test, on the test's thread.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "lab/command_runner.h"

namespace vantage::lab::test {

std::string ReadFile(const std::string& path);
// The median (NaN when empty).
double Median(std::vector<double> v);
// The interval [lo, hi] holding the count of losses out of n with
// probability >= 1 - alpha (at most alpha/2 cut from each tail).
std::pair<int, int> BinomialInterval(int n, double p, double alpha);
// The first JSON document in a command's output (null when there is none).
nlohmann::json ParseJson(const std::string& output);
// Zombies (ended, waiting for their parent) count as gone.
bool Alive(pid_t pid);
// Live processes (other than this one) whose command line mentions `needle`.
std::vector<std::string> ProcessesMentioning(const std::string& needle);

class LabFixture : public ::testing::Test {
 protected:
  // `tag` makes the prefix unique among fixtures of the same process;
  // `tools` must be on PATH or the test is skipped.
  LabFixture(std::string tag, std::vector<std::string> tools);

  void SetUp() override;
  // Stops spawned processes and, if the lab is up, DownAndCheckClean().
  void TearDown() override;

  // Writes the topology and runs `vantage-lab up`; false (with a failure)
  // when it did not come up.
  bool Up(const std::string& topology_yaml);
  // `vantage-lab down`, then checks that nothing it made is left.
  void DownAndCheckClean();

  CommandResult Run(const std::vector<std::string>& argv, absl::Duration timeout);
  // vantage-lab with `args` and this test's --run-dir.
  CommandResult Lab(std::vector<std::string> args);
  std::vector<std::string> InNs(const std::string& node, std::vector<std::string> argv) const;
  // Runs argv in `node`'s namespace in the background, output to `log`
  // (stopped by TearDown unless StopSpawned first); -1 on failure.
  pid_t SpawnInNs(const std::string& node, const std::vector<std::string>& argv,
                  const std::string& log);
  void StopSpawned(pid_t pid, int sig);
  // Waits for a spawned process to end by itself (up to `timeout`).
  bool WaitSpawned(pid_t pid, absl::Duration timeout);
  // Pings until one crosses (a fresh TUN link may drop its first packets).
  void WaitForPath(const std::string& node, const std::string& target);

  nlohmann::json LabStatus();
  // The emulator's count of packets lost from `from` to `to`.
  static int64_t LinkLost(const nlohmann::json& status, const std::string& from,
                          const std::string& to);

  const std::string& prefix() const { return prefix_; }
  const std::string& work() const { return work_; }
  const std::string& run_dir() const { return run_dir_; }
  SystemCommandRunner& runner() { return runner_; }

 private:
  std::string tag_;
  std::vector<std::string> tools_;
  SystemCommandRunner runner_;
  bool prepared_ = false;
  bool up_ = false;
  std::string prefix_;
  std::string work_;
  std::string run_dir_;
  std::string namespaces_before_;
  std::vector<pid_t> spawned_;
};

}  // namespace vantage::lab::test
