#include "tests/probe/active_probe_fakes.h"

#include <cstring>

#include "probe/internet_checksum.h"
#include "probe/stamp_packet.h"

namespace vantage::probe::testing {
namespace {

IpAddress SourceOf(const IpAddress& destination) {
  return destination.is_v4() ? *IpAddress::Parse("198.18.0.1") : *IpAddress::Parse("2001:db8::1");
}

std::vector<uint8_t> Transport(const SentProbe& probe) {
  if (probe.packet.protocol != 17) {
    return std::vector<uint8_t>(
        probe.packet.bytes.begin(),
        probe.packet.bytes.begin() + static_cast<long>(probe.packet.length));
  }
  // STAMP probes are UDP payloads: add the UDP header the kernel would.
  std::vector<uint8_t> udp(8 + probe.packet.length);
  udp[0] = static_cast<uint8_t>(probe.packet.source_port >> 8);
  udp[1] = static_cast<uint8_t>(probe.packet.source_port);
  udp[2] = static_cast<uint8_t>(probe.packet.destination_port >> 8);
  udp[3] = static_cast<uint8_t>(probe.packet.destination_port);
  udp[4] = static_cast<uint8_t>(udp.size() >> 8);
  udp[5] = static_cast<uint8_t>(udp.size());
  std::memcpy(udp.data() + 8, probe.packet.bytes.data(), probe.packet.length);
  return udp;
}

}  // namespace

std::vector<uint8_t> WrapIp(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                            absl::Span<const uint8_t> l4, uint8_t ttl) {
  std::vector<uint8_t> out;
  if (src.is_v4()) {
    out.resize(20);
    const size_t total = 20 + l4.size();
    out[0] = 0x45;
    out[2] = static_cast<uint8_t>(total >> 8);
    out[3] = static_cast<uint8_t>(total);
    out[8] = ttl;
    out[9] = protocol;
    std::memcpy(&out[12], src.bytes(), 4);
    std::memcpy(&out[16], dst.bytes(), 4);
  } else {
    out.resize(40);
    out[0] = 0x60;
    out[4] = static_cast<uint8_t>(l4.size() >> 8);
    out[5] = static_cast<uint8_t>(l4.size());
    out[6] = protocol;
    out[7] = ttl;
    std::memcpy(&out[8], src.bytes(), 16);
    std::memcpy(&out[24], dst.bytes(), 16);
  }
  out.insert(out.end(), l4.begin(), l4.end());
  return out;
}

std::vector<uint8_t> RequestPacket(const SentProbe& probe) {
  const uint8_t proto = probe.packet.protocol;
  return WrapIp(SourceOf(probe.destination), probe.destination, proto, Transport(probe));
}

std::vector<uint8_t> ReplyPacket(const SentProbe& probe, bool tcp_rst, absl::Time t2,
                                 absl::Time t3) {
  std::vector<uint8_t> l4 = Transport(probe);
  const uint8_t proto = probe.packet.protocol;
  if (proto == 1 || proto == 58) {
    l4[0] = proto == 1 ? 0 : 129;
  } else if (proto == 6) {
    std::vector<uint8_t> tcp(20);
    std::memcpy(&tcp[0], &l4[2], 2);  // ports swapped
    std::memcpy(&tcp[2], &l4[0], 2);
    const uint32_t isn = static_cast<uint32_t>(l4[4]) << 24 | static_cast<uint32_t>(l4[5]) << 16 |
                         static_cast<uint32_t>(l4[6]) << 8 | l4[7];
    const uint32_t ack = isn + 1;
    tcp[4] = 0x12;  // server ISN, arbitrary
    tcp[8] = static_cast<uint8_t>(ack >> 24);
    tcp[9] = static_cast<uint8_t>(ack >> 16);
    tcp[10] = static_cast<uint8_t>(ack >> 8);
    tcp[11] = static_cast<uint8_t>(ack);
    tcp[12] = 5 << 4;
    tcp[13] = tcp_rst ? 0x14 : 0x12;
    l4 = tcp;
  } else {
    auto sender = StampSenderPacket::Decode(absl::MakeConstSpan(l4).subspan(8));
    StampReflectorPacket r;
    r.sequence = sender->sequence;
    r.timestamp = ToNtpTimestamp(t3);
    r.error_estimate = MakeErrorEstimate(true, absl::Microseconds(10));
    r.receive_timestamp = ToNtpTimestamp(t2);
    r.sender_sequence = sender->sequence;
    r.sender_timestamp = sender->timestamp;
    r.sender_error_estimate = sender->error_estimate;
    r.sender_ttl = 64;
    std::vector<uint8_t> udp(8 + kStampPacketSize);
    std::memcpy(&udp[0], &l4[2], 2);
    std::memcpy(&udp[2], &l4[0], 2);
    udp[5] = static_cast<uint8_t>(udp.size());
    r.Encode(absl::MakeSpan(udp).subspan(8));
    l4 = udp;
  }
  return WrapIp(probe.destination, SourceOf(probe.destination), proto, l4);
}

std::vector<uint8_t> IcmpErrorPacket(const SentProbe& probe, const IpAddress& router, uint8_t type,
                                     uint8_t code) {
  const std::vector<uint8_t> quoted = RequestPacket(probe);
  std::vector<uint8_t> icmp(8);
  icmp[0] = type;
  icmp[1] = code;
  icmp.insert(icmp.end(), quoted.begin(), quoted.end());
  return WrapIp(router, SourceOf(probe.destination), router.is_v4() ? 1 : 58, icmp);
}

}  // namespace vantage::probe::testing
