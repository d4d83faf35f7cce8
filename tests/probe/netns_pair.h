// NetnsPair: two network namespaces joined by a veth pair, created by a test
// and deleted by the destructor (also when the test fails). Names carry the
// test's pid so parallel tests never clash: vtt<pid><tag>c / vtt<pid><tag>s.
//
// Thread model: construct and destroy on one thread; EnterClient/EnterServer
// move only the calling thread.
#pragma once

#include <string>
#include <vector>

namespace vantage::probe::testing {

class NetnsPair {
 public:
  // `tag` is one lowercase letter distinguishing pairs within one test.
  explicit NetnsPair(char tag);
  ~NetnsPair();
  NetnsPair(const NetnsPair&) = delete;
  NetnsPair& operator=(const NetnsPair&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& client_ns() const { return client_ns_; }
  const std::string& server_ns() const { return server_ns_; }
  // The veth ends: client_if in client_ns, server_if in server_ns.
  const std::string& client_if() const { return client_if_; }
  const std::string& server_if() const { return server_if_; }

  // Runs `ip netns exec <ns> <command>`; returns true on exit status 0.
  bool ExecIn(const std::string& ns, const std::string& command);
  // Moves the calling thread into a namespace (or back to the original).
  bool EnterClient();
  bool EnterServer();
  bool EnterOriginal();

 private:
  bool Run(const std::string& command);
  bool Enter(const std::string& ns);

  bool ok_ = false;
  std::string error_;
  std::string client_ns_, server_ns_, client_if_, server_if_;
  int original_fd_ = -1;
};

// Whether this process may create namespaces (root / CAP_SYS_ADMIN + ip).
bool CanCreateNamespaces();

}  // namespace vantage::probe::testing
