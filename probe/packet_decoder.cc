#include "probe/packet_decoder.h"

#include <algorithm>
#include <cstring>

namespace vantage::probe {
namespace {

constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr uint16_t kEtherTypeQinQOld = 0x9100;

constexpr int kMaxIpv6ExtensionHeaders = 8;

using decoder_internal::Load16;
using decoder_internal::Load32;

bool IsVlan(uint16_t ether_type) {
  return ether_type == kEtherTypeVlan || ether_type == kEtherTypeQinQ ||
         ether_type == kEtherTypeQinQOld;
}

// Parses TCP options in [p, p + length). Unknown options are skipped by
// their length; a malformed length is an error.
bool ParseTcpOptions(const uint8_t* p, size_t length, TcpHeader* tcp) {
  size_t i = 0;
  // The layout nearly every segment after the handshake carries (Linux,
  // BSD, Windows): NOP, NOP, timestamps. Same result as the loop below.
  if (length >= 12 && p[0] == 1 && p[1] == 1 && p[2] == 8 && p[3] == 10) {
    tcp->has_timestamps = true;
    tcp->tsval = Load32(p + 4);
    tcp->tsecr = Load32(p + 8);
    i = 12;
  }
  while (i < length) {
    uint8_t kind = p[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= length) return false;
    uint8_t len = p[i + 1];
    if (len < 2 || i + len > length) return false;
    switch (kind) {
      case 2:
        if (len != 4) return false;
        tcp->has_mss = true;
        tcp->mss = Load16(p + i + 2);
        break;
      case 3:
        if (len != 3) return false;
        tcp->has_window_scale = true;
        tcp->window_scale = p[i + 2];
        break;
      case 4:
        if (len != 2) return false;
        tcp->sack_permitted = true;
        break;
      case 8:
        if (len != 10) return false;
        tcp->has_timestamps = true;
        tcp->tsval = Load32(p + i + 2);
        tcp->tsecr = Load32(p + i + 6);
        break;
      default:
        break;
    }
    i += len;
  }
  return true;
}

bool IcmpV4IsError(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}
bool IcmpV4HasEcho(uint8_t type) { return type == 0 || type == 8 || type == 13 || type == 14; }

// Transport decoding. `l4_wire_length` is how long the transport segment is
// according to the IP header; `quoted` relaxes checks for ICMP-quoted
// packets, which carry only the first 8 transport bytes.
DecodeStatus DecodeTransport(absl::Span<const uint8_t> bytes, size_t l4, uint32_t l4_wire_length,
                             bool quoted, DecodedPacket* out) {
  const size_t have = bytes.size() - l4;
  const uint8_t* p = bytes.data() + l4;
  out->l4_offset = static_cast<uint16_t>(l4);
  switch (out->protocol) {
    case kIpProtoTcp: {
      if (have < (quoted ? 8u : 20u) || (!quoted && l4_wire_length < 20)) {
        return DecodeStatus::kTruncatedTcpHeader;
      }
      out->src_port = Load16(p);
      out->dst_port = Load16(p + 2);
      out->tcp.seq = Load32(p + 4);
      if (have < 20) return DecodeStatus::kOk;  // quoted: ports and seq only
      out->tcp.ack = Load32(p + 8);
      const size_t header_length = static_cast<size_t>(p[12] >> 4) * 4;
      out->tcp.flags = p[13];
      out->tcp.window = Load16(p + 14);
      if (quoted) return DecodeStatus::kOk;
      if (header_length < 20 || header_length > l4_wire_length) {
        return DecodeStatus::kBadTcpDataOffset;
      }
      if (header_length > have) return DecodeStatus::kTruncatedTcpHeader;
      out->tcp.header_length = static_cast<uint8_t>(header_length);
      if (!ParseTcpOptions(p + 20, header_length - 20, &out->tcp)) {
        return DecodeStatus::kBadTcpOptions;
      }
      out->payload_offset = static_cast<uint16_t>(l4 + header_length);
      out->payload_length = l4_wire_length - static_cast<uint32_t>(header_length);
      return DecodeStatus::kOk;
    }
    case kIpProtoUdp: {
      if (have < 8 || (!quoted && l4_wire_length < 8)) return DecodeStatus::kTruncatedUdpHeader;
      out->src_port = Load16(p);
      out->dst_port = Load16(p + 2);
      out->udp.length = Load16(p + 4);
      if (quoted) return DecodeStatus::kOk;
      if (out->udp.length < 8 || out->udp.length > l4_wire_length) {
        return DecodeStatus::kBadUdpLength;
      }
      out->payload_offset = static_cast<uint16_t>(l4 + 8);
      out->payload_length = out->udp.length - 8u;
      return DecodeStatus::kOk;
    }
    case kIpProtoIcmp:
    case kIpProtoIcmpv6: {
      const bool v6 = out->protocol == kIpProtoIcmpv6;
      if (have < 4 || (!quoted && l4_wire_length < 4)) return DecodeStatus::kTruncatedIcmpHeader;
      IcmpHeader& icmp = out->icmp;
      icmp.type = p[0];
      icmp.code = p[1];
      const bool has_echo = v6 ? (icmp.type == 128 || icmp.type == 129) : IcmpV4HasEcho(icmp.type);
      const bool is_error = v6 ? (icmp.type < 128) : IcmpV4IsError(icmp.type);
      if ((has_echo || is_error) && (have < 8 || (!quoted && l4_wire_length < 8))) {
        return DecodeStatus::kTruncatedIcmpHeader;
      }
      if (has_echo) {
        icmp.has_echo_fields = true;
        icmp.id = Load16(p + 4);
        icmp.sequence = Load16(p + 6);
      }
      const size_t header_length = (has_echo || is_error) ? 8 : 4;
      if (is_error && !quoted) {
        icmp.is_error = true;
        icmp.quoted_offset = static_cast<uint16_t>(l4 + 8);
      }
      if (quoted) return DecodeStatus::kOk;
      out->payload_offset = static_cast<uint16_t>(l4 + header_length);
      out->payload_length = l4_wire_length - static_cast<uint32_t>(header_length);
      return DecodeStatus::kOk;
    }
    default:
      // Another transport: IP fields are valid, nothing more to decode.
      out->payload_offset = static_cast<uint16_t>(l4);
      out->payload_length = l4_wire_length;
      return DecodeStatus::kOk;
  }
}

// `available_wire` is how many bytes from `offset` were on the wire (for
// length checks); ignored when quoted.
DecodeStatus DecodeIpAt(absl::Span<const uint8_t> bytes, size_t offset, size_t available_wire,
                        bool quoted, DecodedPacket* out) {
  if (offset >= bytes.size()) return DecodeStatus::kTruncatedIpHeader;
  const uint8_t* p = bytes.data() + offset;
  const size_t have = bytes.size() - offset;
  out->l3_offset = static_cast<uint16_t>(offset);
  const uint8_t version = p[0] >> 4;
  if (version == 4) {
    if (have < 20) return DecodeStatus::kTruncatedIpHeader;
    const size_t header_length = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (header_length < 20) return DecodeStatus::kBadIpHeaderLength;
    if (header_length > have) return DecodeStatus::kTruncatedIpHeader;
    out->ip_version = 4;
    out->ttl = p[8];
    out->protocol = p[9];
    out->src = IpAddress::V4Bytes(p + 12);
    out->dst = IpAddress::V4Bytes(p + 16);
    uint32_t total_length = Load16(p + 2);
    if (quoted) {
      out->ip_length = total_length;
    } else {
      // 0 appears on captures of TCP segmentation offload: take the frame.
      if (total_length == 0) total_length = static_cast<uint32_t>(available_wire);
      if (total_length < header_length || total_length > available_wire) {
        return DecodeStatus::kBadIpTotalLength;
      }
      out->ip_length = total_length;
    }
    const uint16_t fragment = Load16(p + 6);
    out->more_fragments = (fragment & 0x2000) != 0;
    if ((fragment & 0x1fff) != 0) return DecodeStatus::kIpFragment;
    const uint32_t l4_wire =
        out->ip_length > header_length ? out->ip_length - static_cast<uint32_t>(header_length) : 0;
    return DecodeTransport(bytes, offset + header_length, l4_wire, quoted, out);
  }
  if (version == 6) {
    if (have < 40) return DecodeStatus::kTruncatedIpHeader;
    out->ip_version = 6;
    out->ttl = p[7];
    out->src = IpAddress::V6Bytes(p + 8);
    out->dst = IpAddress::V6Bytes(p + 24);
    const uint32_t payload_length = Load16(p + 4);
    out->ip_length = 40 + payload_length;
    if (!quoted && (payload_length == 0 || out->ip_length > available_wire)) {
      // 0 would be a jumbogram (RFC 2675), which no capture of ours carries.
      return DecodeStatus::kBadIpTotalLength;
    }
    uint8_t next = p[6];
    size_t cursor = offset + 40;
    const size_t ip_end = offset + out->ip_length;
    for (int n = 0;; ++n) {
      const bool extension = next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
      if (!extension) break;
      if (n == kMaxIpv6ExtensionHeaders) return DecodeStatus::kTooManyIpv6ExtensionHeaders;
      if (cursor + 8 > bytes.size()) return DecodeStatus::kTruncatedIpv6ExtensionHeader;
      const uint8_t* h = bytes.data() + cursor;
      size_t length;
      if (next == 44) {
        length = 8;
        const uint16_t fragment = Load16(h + 2);
        out->more_fragments = (fragment & 1) != 0;
        if ((fragment & 0xfff8) != 0) {
          out->protocol = h[0];
          return DecodeStatus::kIpFragment;
        }
      } else if (next == 51) {
        length = (static_cast<size_t>(h[1]) + 2) * 4;
      } else {
        length = (static_cast<size_t>(h[1]) + 1) * 8;
      }
      if (!quoted && cursor + length > ip_end) return DecodeStatus::kBadIpTotalLength;
      if (cursor + length > bytes.size()) return DecodeStatus::kTruncatedIpv6ExtensionHeader;
      next = h[0];
      cursor += length;
    }
    out->protocol = next;
    const uint32_t l4_wire = ip_end > cursor ? static_cast<uint32_t>(ip_end - cursor) : 0;
    if (cursor > bytes.size()) return DecodeStatus::kTruncatedIpHeader;
    return DecodeTransport(bytes, cursor, l4_wire, quoted, out);
  }
  return DecodeStatus::kBadIpVersion;
}

}  // namespace

const char* DecodeStatusName(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::kOk:
      return "ok";
    case DecodeStatus::kUnsupportedLinkType:
      return "unsupported_link_type";
    case DecodeStatus::kTruncatedLinkHeader:
      return "truncated_link_header";
    case DecodeStatus::kNotIp:
      return "not_ip";
    case DecodeStatus::kTooManyVlanTags:
      return "too_many_vlan_tags";
    case DecodeStatus::kTruncatedIpHeader:
      return "truncated_ip_header";
    case DecodeStatus::kBadIpVersion:
      return "bad_ip_version";
    case DecodeStatus::kBadIpHeaderLength:
      return "bad_ip_header_length";
    case DecodeStatus::kBadIpTotalLength:
      return "bad_ip_total_length";
    case DecodeStatus::kIpFragment:
      return "ip_fragment";
    case DecodeStatus::kTruncatedIpv6ExtensionHeader:
      return "truncated_ipv6_extension_header";
    case DecodeStatus::kTooManyIpv6ExtensionHeaders:
      return "too_many_ipv6_extension_headers";
    case DecodeStatus::kTruncatedTcpHeader:
      return "truncated_tcp_header";
    case DecodeStatus::kBadTcpDataOffset:
      return "bad_tcp_data_offset";
    case DecodeStatus::kBadTcpOptions:
      return "bad_tcp_options";
    case DecodeStatus::kTruncatedUdpHeader:
      return "truncated_udp_header";
    case DecodeStatus::kBadUdpLength:
      return "bad_udp_length";
    case DecodeStatus::kTruncatedIcmpHeader:
      return "truncated_icmp_header";
    case DecodeStatus::kCount:
      break;
  }
  return "unknown";
}

uint64_t DecodeCounters::Failures() const {
  uint64_t total = 0;
  for (size_t i = 1; i < counts.size(); ++i) total += counts[i];
  return total;
}

namespace {

// The common case in one pass: IPv4 without IP options, not a fragment,
// carrying TCP, at `l3` in a capture of `size` bytes. Returns false (and
// leaves the packet to the general path) for anything else; when it returns
// true, `out` and `*status` are exactly what the general path gives.
inline bool DecodeIpv4TcpFast(const uint8_t* p, size_t size, size_t l3, size_t wire,
                              DecodedPacket* out, DecodeStatus* status) {
  if (size < l3 + 40) return false;
  const uint8_t* ip = p + l3;
  if (ip[0] != 0x45 || ip[9] != kIpProtoTcp) return false;
  const uint32_t total_length = Load16(ip + 2);
  const uint16_t fragment = Load16(ip + 6);
  // total_length 0 (segmentation offload) and bad lengths: general path.
  if (total_length < 40 || total_length > wire - l3 || (fragment & 0x1fff) != 0) return false;
  const uint8_t* tcp = ip + 20;
  const size_t header_length = static_cast<size_t>(tcp[12] >> 4) * 4;
  const size_t have = size - l3 - 20;
  if (header_length < 20 || header_length > total_length - 20 || header_length > have) {
    return false;
  }
  out->src = IpAddress::V4Bytes(ip + 12);
  out->dst = IpAddress::V4Bytes(ip + 16);
  out->ip_version = 4;
  out->protocol = kIpProtoTcp;
  out->ttl = ip[8];
  out->more_fragments = (fragment & 0x2000) != 0;
  out->l3_offset = static_cast<uint16_t>(l3);
  out->l4_offset = static_cast<uint16_t>(l3 + 20);
  out->ip_length = total_length;
  out->src_port = Load16(tcp);
  out->dst_port = Load16(tcp + 2);
  out->tcp.seq = Load32(tcp + 4);
  out->tcp.ack = Load32(tcp + 8);
  out->tcp.flags = tcp[13];
  out->tcp.window = Load16(tcp + 14);
  out->tcp.header_length = static_cast<uint8_t>(header_length);
  if (!ParseTcpOptions(tcp + 20, header_length - 20, &out->tcp)) {
    *status = DecodeStatus::kBadTcpOptions;
    return true;
  }
  out->payload_offset = static_cast<uint16_t>(l3 + 20 + header_length);
  out->payload_length = total_length - 20 - static_cast<uint32_t>(header_length);
  *status = DecodeStatus::kOk;
  return true;
}

}  // namespace

TcpSegmentFields TcpSegmentFields::From(const DecodedPacket& packet) {
  TcpSegmentFields out;
  std::memcpy(out.src, packet.src.bytes(), 16);
  std::memcpy(out.dst, packet.dst.bytes(), 16);
  out.family = static_cast<uint8_t>(packet.src.family());
  out.src_port = packet.src_port;
  out.dst_port = packet.dst_port;
  out.seq = packet.tcp.seq;
  out.ack = packet.tcp.ack;
  out.flags = packet.tcp.flags;
  out.has_timestamps = packet.tcp.has_timestamps;
  out.tsval = packet.tcp.tsval;
  out.tsecr = packet.tcp.tsecr;
  out.payload_length = packet.payload_length;
  out.ip_length = packet.ip_length;
  return out;
}

bool PacketDecoder::ParseTimestampOption(const uint8_t* options, size_t length,
                                         Timestamps* timestamps) {
  TcpHeader tcp;
  if (!ParseTcpOptions(options, length, &tcp)) return false;
  timestamps->present = tcp.has_timestamps;
  timestamps->tsval = tcp.tsval;
  timestamps->tsecr = tcp.tsecr;
  return true;
}

DecodeStatus PacketDecoder::Decode(int link_type, absl::Span<const uint8_t> bytes,
                                   DecodedPacket* out, uint32_t wire_length) {
  *out = DecodedPacket();
  if (bytes.size() <= kMaxDecodedBytes) {
    const size_t wire = std::max<size_t>(wire_length, bytes.size());
    DecodeStatus status;
    if (link_type == kDltEn10mb && bytes.size() >= 14 &&
        Load16(bytes.data() + 12) == kEtherTypeIpv4 &&
        DecodeIpv4TcpFast(bytes.data(), bytes.size(), 14, wire, out, &status)) {
      return status;
    }
    if ((link_type == kDltRaw || link_type == kLinktypeRaw || link_type == kDltIpv4) &&
        DecodeIpv4TcpFast(bytes.data(), bytes.size(), 0, wire, out, &status)) {
      return status;
    }
  }
  return DecodeGeneral(link_type, bytes, out, wire_length);
}

DecodeStatus PacketDecoder::DecodeGeneral(int link_type, absl::Span<const uint8_t> bytes,
                                          DecodedPacket* out, uint32_t wire_length) {
  *out = DecodedPacket();
  if (bytes.size() > kMaxDecodedBytes) bytes = bytes.subspan(0, kMaxDecodedBytes);
  const size_t wire = std::max<size_t>(wire_length, bytes.size());
  const uint8_t* p = bytes.data();
  size_t offset = 0;
  uint16_t ether_type = 0;
  switch (link_type) {
    case kDltEn10mb:
      if (bytes.size() < 14) return DecodeStatus::kTruncatedLinkHeader;
      ether_type = Load16(p + 12);
      offset = 14;
      break;
    case kDltLinuxSll:
      if (bytes.size() < 16) return DecodeStatus::kTruncatedLinkHeader;
      ether_type = Load16(p + 14);
      offset = 16;
      break;
    case kDltLinuxSll2:
      if (bytes.size() < 20) return DecodeStatus::kTruncatedLinkHeader;
      ether_type = Load16(p);
      offset = 20;
      break;
    case kDltRaw:
    case kDltRawOpenBsd:
    case kLinktypeRaw:
      return DecodeIpAt(bytes, 0, wire, false, out);
    case kDltIpv4:
      if (!bytes.empty() && (p[0] >> 4) != 4) return DecodeStatus::kBadIpVersion;
      return DecodeIpAt(bytes, 0, wire, false, out);
    case kDltIpv6:
      if (!bytes.empty() && (p[0] >> 4) != 6) return DecodeStatus::kBadIpVersion;
      return DecodeIpAt(bytes, 0, wire, false, out);
    default:
      return DecodeStatus::kUnsupportedLinkType;
  }
  while (IsVlan(ether_type)) {
    if (out->vlan_count == out->vlan_ids.size()) return DecodeStatus::kTooManyVlanTags;
    if (offset + 4 > bytes.size()) return DecodeStatus::kTruncatedLinkHeader;
    out->vlan_ids[out->vlan_count++] = Load16(p + offset) & 0x0fff;
    ether_type = Load16(p + offset + 2);
    offset += 4;
  }
  if (ether_type != kEtherTypeIpv4 && ether_type != kEtherTypeIpv6) return DecodeStatus::kNotIp;
  const DecodeStatus status = DecodeIpAt(bytes, offset, wire - offset, false, out);
  if (status == DecodeStatus::kOk && out->ip_version != (ether_type == kEtherTypeIpv4 ? 4 : 6)) {
    return DecodeStatus::kBadIpVersion;
  }
  return status;
}

DecodeStatus PacketDecoder::DecodeIp(absl::Span<const uint8_t> bytes, size_t offset,
                                     DecodedPacket* out) {
  *out = DecodedPacket();
  if (bytes.size() > kMaxDecodedBytes) bytes = bytes.subspan(0, kMaxDecodedBytes);
  if (offset >= bytes.size()) return DecodeStatus::kTruncatedIpHeader;
  return DecodeIpAt(bytes, offset, bytes.size() - offset, false, out);
}

DecodeStatus PacketDecoder::DecodeQuoted(absl::Span<const uint8_t> bytes, size_t offset,
                                         DecodedPacket* out) {
  *out = DecodedPacket();
  if (bytes.size() > kMaxDecodedBytes) bytes = bytes.subspan(0, kMaxDecodedBytes);
  if (offset >= bytes.size()) return DecodeStatus::kTruncatedIpHeader;
  return DecodeIpAt(bytes, offset, 0, true, out);
}

}  // namespace vantage::probe
