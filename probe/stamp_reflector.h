// StampReflector: an RFC 8762 session-reflector (unauthenticated, stateless
// mode: the reflector's sequence number copies the sender's), on-wire
// compatible with TWAMP-Light senders. vantage-probe runs one so PoPs can
// reflect each other; `vantagectl stamp-reflect` runs one by hand.
//
// Timestamps: Receive Timestamp is the kernel's receive timestamp
// (SO_TIMESTAMPNS); Timestamp is read from CLOCK_REALTIME just before the
// reply is handed to the kernel, so the sender can subtract the reflector's
// processing time. The error estimate's S bit says whether our clock is
// synchronised (adjtimex, unless overridden). Replies leave from the address
// the test packet was sent to (IP_PKTINFO / IPV6_PKTINFO) and carry the
// sender's TTL / hop limit as received.
//
// Thread model: all calls and callbacks on the EventLoop's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/event_loop.h"
#include "core/ip_address.h"

namespace vantage::probe {

struct StampReflectorCounters {
  uint64_t reflected = 0;
  uint64_t malformed = 0;  // shorter than a TWAMP-Light test packet
  uint64_t send_errors = 0;
};

class StampReflector {
 public:
  struct Options {
    // Unspecified address (default): both 0.0.0.0 and [::]. Port 0 picks one.
    std::optional<IpAddress> address;
    uint16_t port = 862;
    // nullopt: ask the kernel whether the clock is synchronised.
    std::optional<bool> synchronized;
  };

  static absl::StatusOr<std::unique_ptr<StampReflector>> Create(const Options& options,
                                                                EventLoop* loop);
  ~StampReflector();
  StampReflector(const StampReflector&) = delete;
  StampReflector& operator=(const StampReflector&) = delete;

  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }
  const StampReflectorCounters& counters() const { return counters_; }

 private:
  StampReflector(EventLoop* loop, uint16_t error_estimate)
      : loop_(loop), error_estimate_(error_estimate) {}
  absl::Status Open(int family, const std::optional<IpAddress>& address, uint16_t port);
  void OnReadable(int fd);

  EventLoop* loop_;
  uint16_t error_estimate_;
  uint16_t port_ = 0;
  std::vector<int> fds_;
  StampReflectorCounters counters_;
};

}  // namespace vantage::probe
