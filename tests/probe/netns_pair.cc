#include "tests/probe/netns_pair.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace vantage::probe::testing {

bool CanCreateNamespaces() { return geteuid() == 0 && std::system("ip -V >/dev/null 2>&1") == 0; }

NetnsPair::NetnsPair(char tag) {
  const std::string base = absl::StrCat("vtt", getpid(), std::string(1, tag));
  client_ns_ = base + "c";
  server_ns_ = base + "s";
  client_if_ = base + "c";
  server_if_ = base + "s";
  original_fd_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  ok_ = original_fd_ >= 0 && Run("ip netns add " + client_ns_) &&
        Run("ip netns add " + server_ns_) &&
        Run(absl::StrCat("ip link add ", client_if_, " netns ", client_ns_, " type veth peer name ",
                         server_if_, " netns ", server_ns_)) &&
        ExecIn(client_ns_, "ip link set lo up") && ExecIn(server_ns_, "ip link set lo up") &&
        ExecIn(client_ns_, "ip link set " + client_if_ + " up") &&
        ExecIn(server_ns_, "ip link set " + server_if_ + " up");
}

NetnsPair::~NetnsPair() {
  // Deleting a namespace destroys the veth end inside it, and with it the pair.
  Run("ip netns del " + client_ns_ + " 2>/dev/null");
  Run("ip netns del " + server_ns_ + " 2>/dev/null");
  if (original_fd_ >= 0) close(original_fd_);
}

bool NetnsPair::Run(const std::string& command) {
  if (std::system(command.c_str()) == 0) return true;
  if (error_.empty()) error_ = "failed: " + command;
  return false;
}

bool NetnsPair::ExecIn(const std::string& ns, const std::string& command) {
  return Run(absl::StrCat("ip netns exec ", ns, " ", command));
}

bool NetnsPair::Enter(const std::string& ns) {
  const int fd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = setns(fd, CLONE_NEWNET) == 0;
  close(fd);
  return ok;
}

bool NetnsPair::EnterClient() { return Enter(client_ns_); }
bool NetnsPair::EnterServer() { return Enter(server_ns_); }
bool NetnsPair::EnterOriginal() { return setns(original_fd_, CLONE_NEWNET) == 0; }

}  // namespace vantage::probe::testing
