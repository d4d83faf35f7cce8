#include "lab/lab_controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace vantage::lab {
namespace {

namespace fs = std::filesystem;

// Runs nothing: records the commands and answers "ok".
class RecordingRunner final : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv, absl::Duration) override {
    commands.push_back(JoinArgv(argv));
    return CommandResult{0, ""};
  }
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string&) override {
    commands.push_back(JoinArgv(argv));
    return absl::UnimplementedError("no spawning in this test");
  }
  std::vector<std::string> commands;
};

class LabControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.run_dir =
        absl::StrCat(fs::temp_directory_path().string(), "/vantage-lab-ctl-test-", getpid());
    options_.prefix = absl::StrCat("vtu", getpid(), "-");
    options_.self_exe = "/nonexistent/vantage-lab";
    fs::create_directories(options_.run_dir);
  }
  void TearDown() override {
    for (pid_t pid : children_) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    fs::remove_all(options_.run_dir);
  }

  pid_t StartSleeper() {
    SystemCommandRunner real;
    absl::StatusOr<pid_t> pid = real.Spawn({"sleep", "60"}, options_.run_dir + "/sleep.out");
    EXPECT_TRUE(pid.ok()) << pid.status();
    children_.push_back(*pid);
    return *pid;
  }

  bool Running(pid_t pid) {
    waitpid(pid, nullptr, WNOHANG);
    return ProcessStartTime(pid) != 0;
  }

  LabOptions options_;
  RecordingRunner runner_;
  std::vector<pid_t> children_;
};

TEST_F(LabControllerTest, DownWithoutALabIsANoOp) {
  LabController lab(options_, &runner_);
  EXPECT_TRUE(lab.Down().ok());
  EXPECT_TRUE(runner_.commands.empty());
}

TEST_F(LabControllerTest, DownEndsRecordedProcessesButNotAReusedPid) {
  const pid_t ours = StartSleeper();
  const pid_t stranger = StartSleeper();
  RunState state;
  state.prefix = options_.prefix;
  state.topology_path = "/x.yaml";
  // A namespace that does not exist (any more) is skipped, not an error.
  state.namespaces = {options_.prefix + "gone"};
  state.processes = {{"emulator", "", ours, ProcessStartTime(ours)},
                     // Same pid, other start time: the pid was reused by a
                     // process that is not ours.
                     {"nsd", "a", stranger, ProcessStartTime(stranger) + 1}};
  ASSERT_TRUE(state.Save(options_.run_dir + "/state.json").ok());
  std::ofstream(options_.run_dir + "/emulator.log") << "log\n";
  fs::create_directories(options_.run_dir + "/nsd-a");

  LabController lab(options_, &runner_);
  ASSERT_TRUE(lab.Down().ok());
  EXPECT_FALSE(Running(ours));
  EXPECT_TRUE(Running(stranger));
  EXPECT_FALSE(fs::exists(options_.run_dir + "/state.json"));
  EXPECT_FALSE(fs::exists(options_.run_dir + "/nsd-a"));
  EXPECT_FALSE(fs::exists(options_.run_dir + "/emulator.log"));
  // Not ours: stays.
  EXPECT_TRUE(fs::exists(options_.run_dir + "/sleep.out"));
  EXPECT_TRUE(runner_.commands.empty());
}

TEST_F(LabControllerTest, UpRefusesWhileALabIsRecorded) {
  RunState state;
  ASSERT_TRUE(state.Save(options_.run_dir + "/state.json").ok());
  LabController lab(options_, &runner_);
  absl::Status st = lab.Up("/does/not/matter.yaml");
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("vantage-lab down"));
  EXPECT_TRUE(runner_.commands.empty());
}

TEST_F(LabControllerTest, UpWithABadTopologyMakesNothing) {
  std::ofstream(options_.run_dir + "/t.yaml") << "pops: 3\n";
  LabController lab(options_, &runner_);
  absl::Status st = lab.Up(options_.run_dir + "/t.yaml");
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("t.yaml:1:7: pops must be a list"));
  EXPECT_TRUE(runner_.commands.empty());
  EXPECT_FALSE(fs::exists(options_.run_dir + "/state.json"));
}

TEST(RunStateTest, RoundTrips) {
  const std::string path =
      absl::StrCat(fs::temp_directory_path().string(), "/vantage-runstate-", getpid(), ".json");
  RunState s;
  s.prefix = "vt-";
  s.topology_path = "/t.yaml";
  s.namespaces = {"vt-a", "vt-r"};
  s.processes = {{"nsd", "a", 42, 1234}};
  ASSERT_TRUE(s.Save(path).ok());
  absl::StatusOr<RunState> back = RunState::Load(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->namespaces, s.namespaces);
  EXPECT_EQ(back->processes[0].pid, 42);
  EXPECT_EQ(back->processes[0].start_time, 1234u);
  std::ofstream(path) << "{\"prefix\": 1}";
  EXPECT_EQ(RunState::Load(path).status().code(), absl::StatusCode::kDataLoss);
  fs::remove(path);
  EXPECT_EQ(RunState::Load(path).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vantage::lab
