#include "lab/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/clock.h"

namespace vantage::lab {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

std::vector<char*> CArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// Closes every descriptor above stderr in a freshly forked child.
void CloseInheritedFds() {
  const long max = sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max > 0 ? max : 1024) && fd < 65536; ++fd) close(fd);
}

}  // namespace

std::string JoinArgv(const std::vector<std::string>& argv) { return absl::StrJoin(argv, " "); }

absl::StatusOr<CommandResult> SystemCommandRunner::Run(const std::vector<std::string>& argv,
                                                       absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Errno("pipe2");
  std::vector<char*> c_argv = CArgv(argv);
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return Errno("fork");
  }
  if (pid == 0) {
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    CloseInheritedFds();
    execvp(c_argv[0], c_argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  CommandResult result;
  const absl::Time deadline = RealClock::Get().MonotonicNow() + timeout;
  bool killed = false;
  char chunk[4096];
  while (true) {
    const absl::Duration left = deadline - RealClock::Get().MonotonicNow();
    if (left <= absl::ZeroDuration() && !killed) {
      kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p{pipe_fds[0], POLLIN, 0};
    const int wait_ms = killed ? 1000 : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    const int ready = poll(&p, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (killed) break;  // a grandchild holds the pipe; stop reading
      continue;
    }
    const ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(chunk, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (killed) {
    return absl::DeadlineExceededError(absl::StrCat("'", JoinArgv(argv), "' did not finish within ",
                                                    absl::FormatDuration(timeout)));
  }
  if (result.exit_code == 127 && result.output.empty()) {
    return absl::NotFoundError(absl::StrCat("cannot run '", argv[0], "'"));
  }
  return result;
}

absl::StatusOr<pid_t> SystemCommandRunner::Spawn(const std::vector<std::string>& argv,
                                                 const std::string& log_path) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return Errno(absl::StrCat("open ", log_path));
  // The child reports a failed exec through this pipe (closed by a
  // successful exec thanks to O_CLOEXEC).
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    return Errno("pipe2");
  }
  std::vector<char*> c_argv = CArgv(argv);
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    close(status_pipe[0]);
    close(status_pipe[1]);
    return Errno("fork");
  }
  if (pid == 0) {
    setsid();
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    const int status_fd = status_pipe[1];
    for (int fd = 3; fd < 65536; ++fd) {
      if (fd != status_fd) close(fd);
    }
    // Signals blocked or ignored by the parent must not leak into daemons.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    execvp(c_argv[0], c_argv.data());
    const int err = errno;
    [[maybe_unused]] ssize_t n = write(status_fd, &err, sizeof(err));
    _exit(127);
  }
  close(log_fd);
  close(status_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(status_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    waitpid(pid, nullptr, 0);
    return absl::NotFoundError(
        absl::StrCat("cannot run '", argv[0], "': ", std::strerror(child_errno)));
  }
  return pid;
}

uint64_t ProcessStartTime(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) return 0;
  std::stringstream text;
  text << in.rdbuf();
  const std::string stat = text.str();
  // The command name (field 2) may hold spaces and parentheses: fields are
  // counted from the last ')'.
  const size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string field;
  // Field 3 is the state; field 22 the start time.
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return 0;
    if (i == 3 && field == "Z") return 0;  // a zombie is gone for our purposes
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

}  // namespace vantage::lab
