// ProbeSender: the OS boundary through which the active prober sends its
// probes (raw sockets for ICMP and TCP, one UDP socket per flow for STAMP).
// RawSocketProbeSender is the real one; tests use a fake that records.
//
// Thread model: used from the prober's EventLoop thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/ip_address.h"
#include "probe/probe_codec.h"

namespace vantage::probe {

class ProbeSender {
 public:
  virtual ~ProbeSender() = default;

  // The local address the kernel would send from towards `destination`.
  virtual absl::StatusOr<IpAddress> SourceAddressFor(const IpAddress& destination) = 0;
  // Opens one UDP socket per STAMP flow (IPv4 and IPv6) and returns their
  // local ports, flow by flow. Called at most once, before any Send.
  virtual absl::StatusOr<std::vector<uint16_t>> OpenStampSockets(int flows) = 0;
  // Sends one probe; `flow` selects the STAMP socket.
  [[nodiscard]] virtual absl::Status Send(const IpAddress& destination, const ProbePacket& packet,
                                          int flow) = 0;
};

}  // namespace vantage::probe
