// ExabgpAdapter: drives ExaBGP 4.2 through its process API.
//
// Choice: ExaBGP starts a small relay process (`vantage-exabgp-relay
// --socket PATH`, configured as `process vantage { run ...; encoder text; }`)
// whose stdout is ExaBGP's command input. The relay connects to a Unix
// stream socket this adapter listens on and copies every line it receives to
// stdout (and ExaBGP's acknowledgements back). Why not ExaBGP's named pipes:
// ExaBGP 4.2's pipe API (exabgpcli) needs the pipes pre-created and reports
// no restart; with the relay, an ExaBGP (re)start shows up as a new
// connection, upon which the adapter replays the full intended state, so an
// ExaBGP restart always ends with the same announcements.
//
// Commands, one per PoP session (per-neighbor targeting by the router's
// address on that session):
//   neighbor <nb> announce route <prefix> next-hop <nh> extended-community [ bandwidth:<asn>:<B/s>
//   ] neighbor <nb> withdraw route <prefix> next-hop <nh>
// Apply() sends only what changed since the last successful Apply (an
// announce with new attributes replaces the route); a fresh connection gets
// every announcement of the last applied state.
//
// Apply() fails with Unavailable when no relay is connected or the write
// fails (the state is then NOT recorded as applied: the caller stays on its
// last good state, and a later reconnect replays that one).
//
// Thread model: one internal thread accepts relay connections, drains acks
// and replays state on reconnect; Apply() may be called from any one thread
// at a time. All shared state is under a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "push/router_adapter.h"

namespace vantage::push {

// The ExaBGP commands that take routers from `from` to `to` (all of `to`'s
// announcements when `from` is empty). Exposed for tests.
std::vector<std::string> ExabgpCommands(const IntendedState& from, const IntendedState& to);

class ExabgpAdapter final : public RouterAdapter {
 public:
  // Listens on `socket_path` (an existing file there is replaced).
  static absl::StatusOr<std::unique_ptr<ExabgpAdapter>> Create(const std::string& socket_path);
  ~ExabgpAdapter() override;
  ExabgpAdapter(const ExabgpAdapter&) = delete;
  ExabgpAdapter& operator=(const ExabgpAdapter&) = delete;

  absl::Status Apply(const IntendedState& state) override;
  std::string name() const override { return "exabgp"; }

  // Waits until a relay is connected (and its replay was sent).
  bool WaitConnected(absl::Duration timeout);
  bool connected() const;
  uint64_t connections() const { return connections_.load(); }

 private:
  ExabgpAdapter(int listen_fd, std::string socket_path);
  void Run();
  // Requires mu_. Writes lines to the connection; on failure drops it.
  absl::Status SendLocked(const std::vector<std::string>& lines);

  const int listen_fd_;
  const std::string socket_path_;
  int wake_fds_[2] = {-1, -1};
  mutable std::mutex mu_;
  int conn_fd_ = -1;           // guarded by mu_
  bool have_applied_ = false;  // guarded by mu_
  IntendedState applied_{};    // guarded by mu_
  std::atomic<uint64_t> connections_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace vantage::push
