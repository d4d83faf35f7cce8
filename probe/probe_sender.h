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
#include "absl/types/span.h"
#include "core/ip_address.h"
#include "probe/probe_codec.h"

namespace vantage::probe {

// One probe of a batch; `destination` must stay valid during SendBatch.
struct OutgoingProbe {
  const IpAddress* destination = nullptr;
  ProbePacket packet;
  int flow = 0;
};

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
  // Sends `probes` in order, setting ok[i] (ok.size() == probes.size()) to
  // whether probe i left; returns how many did. Senders that can hand many
  // packets to the kernel in one call (sendmmsg) override it.
  virtual size_t SendBatch(absl::Span<const OutgoingProbe> probes, absl::Span<bool> ok) {
    size_t sent = 0;
    for (size_t i = 0; i < probes.size(); ++i) {
      ok[i] = Send(*probes[i].destination, probes[i].packet, probes[i].flow).ok();
      sent += ok[i] ? 1 : 0;
    }
    return sent;
  }
};

}  // namespace vantage::probe
