// RawSocketProbeSender: sends probes through raw sockets (ICMP, ICMPv6, TCP
// for IPv4 and IPv6; the kernel adds the IP header) and through one
// dual-stack UDP socket per STAMP flow. It never reads from them: each socket
// carries a drop-everything BPF filter, because replies are taken from the
// packet capture with their kernel timestamps, and an unread queue would
// only waste memory. (UDP replies still find a socket, so the kernel sends no
// port-unreachable back to the reflector.)
//
// Batches go out with one sendmmsg(2) per run of probes that share a socket.
// IPv4 probes carry DF (IP_PMTUDISC_PROBE): they are far below any MTU, and
// with DF the kernel leaves the IP ID 0 (RFC 6864) instead of drawing one
// from its shared ID generator for every packet.
//
// Needs CAP_NET_RAW; Create fails with PermissionDenied and a message saying
// so when it is missing.
//
// Thread model: the prober's EventLoop thread.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <vector>

#include "probe/probe_sender.h"

namespace vantage::probe {

class RawSocketProbeSender final : public ProbeSender {
 public:
  static absl::StatusOr<std::unique_ptr<RawSocketProbeSender>> Create();
  ~RawSocketProbeSender() override;
  RawSocketProbeSender(const RawSocketProbeSender&) = delete;
  RawSocketProbeSender& operator=(const RawSocketProbeSender&) = delete;

  absl::StatusOr<IpAddress> SourceAddressFor(const IpAddress& destination) override;
  absl::StatusOr<std::vector<uint16_t>> OpenStampSockets(int flows) override;
  [[nodiscard]] absl::Status Send(const IpAddress& destination, const ProbePacket& packet,
                                  int flow) override;
  size_t SendBatch(absl::Span<const OutgoingProbe> probes, absl::Span<bool> ok) override;

 private:
  RawSocketProbeSender() = default;
  // The socket and destination address of a probe (false: no such socket).
  bool Address(const IpAddress& destination, const ProbePacket& packet, int flow, int* fd,
               sockaddr_storage* ss, socklen_t* len) const;

  int icmp4_ = -1;
  int icmp6_ = -1;
  int tcp4_ = -1;
  int tcp6_ = -1;
  std::vector<int> udp_;
};

}  // namespace vantage::probe
