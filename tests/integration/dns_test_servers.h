// Real DNS servers for integration tests and benchmarks: nsd (authoritative)
// and unbound (recursive), each started by the test on a free loopback port
// with a private directory and killed by it (no systemd, no root needed).
//
// The zone example.test has www (A, AAAA), a 40-record TXT RRset "big" that
// does not fit 1232 bytes (truncation forces TCP; nsd sends up to 16384
// bytes over UDP when the query advertises that much), and names that do not
// exist (NXDOMAIN); other zones are REFUSED by nsd. unbound forwards
// example.test to the nsd, and servfail.test to the nsd too, which refuses
// it, so unbound answers SERVFAIL.
//
// Thread model: not thread-safe; one owner.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"

namespace vantage::testing {

// A loopback port free for both UDP and TCP right now.
absl::StatusOr<uint16_t> FreeLoopbackPort();

// Sends one plain UDP query (A for `name`) and waits up to `timeout` for any
// answer: used to wait until a daemon serves.
bool AnswersQueries(const Endpoint& server, const std::string& name, absl::Duration timeout);

class DnsServerProcess {
 public:
  ~DnsServerProcess();
  DnsServerProcess(const DnsServerProcess&) = delete;
  DnsServerProcess& operator=(const DnsServerProcess&) = delete;

  // nsd with NSID "ascii_<nsid>" and identity (hostname.bind) `identity`.
  static absl::StatusOr<std::unique_ptr<DnsServerProcess>> StartNsd(const std::string& nsid,
                                                                    const std::string& identity);
  // unbound forwarding to `nsd` as described above, NSID "ascii_<nsid>".
  static absl::StatusOr<std::unique_ptr<DnsServerProcess>> StartUnbound(
      const Endpoint& nsd, const std::string& nsid, const std::string& identity);

  const Endpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }
  const std::string& directory() const { return directory_; }
  // Stops the daemon (SIGTERM, then SIGKILL after 3 s). Idempotent.
  void Stop();

 private:
  DnsServerProcess() = default;
  absl::Status Launch(const std::vector<std::string>& argv, const std::string& probe_name);

  Endpoint endpoint_;
  pid_t pid_ = -1;
  std::string directory_;
};

}  // namespace vantage::testing
