// CommandRunner: how the lab runs the system tools it drives (ip, nsd, ping,
// dig) — the boundary between lab logic and the operating system's process
// table. SystemCommandRunner uses fork/exec (no shell); tests can swap in a
// fake that records the commands.
//
// Thread model: SystemCommandRunner has no state and is safe from any thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace vantage::lab {

struct CommandResult {
  int exit_code = 0;   // -1 when killed by a signal
  std::string output;  // stdout and stderr interleaved
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv (argv[0] looked up in PATH) to completion, killing it after
  // `timeout`.
  virtual absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                            absl::Duration timeout) = 0;
  // Starts argv in its own session with stdin from /dev/null and stdout and
  // stderr appended to `log_path`; returns at once with its pid.
  virtual absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                                      const std::string& log_path) = 0;
};

class SystemCommandRunner final : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv,
                                    absl::Duration timeout) override;
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                              const std::string& log_path) override;
};

// The kernel's start time of `pid` (clock ticks since boot, field 22 of
// /proc/<pid>/stat), or 0 when there is no such process. A recorded pid
// with a different start time is some other, later process.
uint64_t ProcessStartTime(pid_t pid);

// Human-readable argv for messages.
std::string JoinArgv(const std::vector<std::string>& argv);

}  // namespace vantage::lab
