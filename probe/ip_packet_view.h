// IpPacketView: the few fields of an IPv4/IPv6 packet the active prober needs,
// parsed from bytes that start at the IP header. The prober uses it for the
// packet an ICMP error quotes (which the capture decoder does not open), and
// tests and the fuzzer use it to feed raw IP packets. Extension headers of
// IPv6 are not walked: our probes never carry them.
//
// Thread model: a function over bytes; `l4` points into the caller's buffer.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/types/span.h"
#include "core/ip_address.h"
#include "probe/packet_source.h"

namespace vantage::probe {

struct IpPacketView {
  IpAddress source;
  IpAddress destination;
  uint8_t protocol = 0;  // IPPROTO_ICMP, _TCP, _UDP, _ICMPV6
  uint8_t ttl = 0;       // hop limit for IPv6
  // From the L4 header to the end of the captured (or quoted) bytes, clipped
  // to the IP total length when that is shorter.
  absl::Span<const uint8_t> l4;
};

// nullopt when the bytes are not a plausible IPv4/IPv6 header. A quoted
// packet may be truncated: only the IP header itself must be complete.
std::optional<IpPacketView> ParseIpPacket(absl::Span<const uint8_t> bytes);

// The IP packet inside a captured frame, through PacketDecoder (link layer,
// IPv6 extension headers); nullopt when the decoder rejects it.
std::optional<IpPacketView> IpPacketFromCapture(const CapturedPacket& packet);

}  // namespace vantage::probe
