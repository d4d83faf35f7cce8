// PacketDecoder: parses the headers of one captured packet — link layer
// (Ethernet with up to two VLAN tags, Linux SLL/SLL2, raw IPv4/IPv6), IPv4 or
// IPv6 (skipping hop-by-hop, routing, fragment, destination-options and AH
// extension headers), then TCP (flags, seq/ack, window, MSS and timestamp
// options), UDP or ICMP/ICMPv6 — into a DecodedPacket of offsets and header
// fields. It never copies payload bytes: payload is described by offset and
// length only.
//
// Every malformed or truncated input yields a DecodeStatus other than kOk,
// which callers count (DecodeCounters); no input makes it crash or read out
// of bounds. A snaplen-truncated packet is fine as long as the headers are
// complete: payload_length comes from the IP header, not from what was
// captured.
//
// Thread model: stateless; all functions are thread-safe.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/types/span.h"
#include "core/ip_address.h"

namespace vantage::probe {

enum class DecodeStatus : uint8_t {
  kOk = 0,
  kUnsupportedLinkType,
  kTruncatedLinkHeader,
  kNotIp,  // ARP, LLDP, ... (not an error, but nothing for us)
  kTooManyVlanTags,
  kTruncatedIpHeader,
  kBadIpVersion,
  kBadIpHeaderLength,
  kBadIpTotalLength,
  kIpFragment,  // a non-first fragment: no transport header
  kTruncatedIpv6ExtensionHeader,
  kTooManyIpv6ExtensionHeaders,
  kTruncatedTcpHeader,
  kBadTcpDataOffset,
  kBadTcpOptions,
  kTruncatedUdpHeader,
  kBadUdpLength,
  kTruncatedIcmpHeader,
  kCount,  // not a status: the number of statuses
};

const char* DecodeStatusName(DecodeStatus status);

// TCP flag bits as on the wire.
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

// Link types (DLT_* values) the decoder knows.
inline constexpr int kDltEn10mb = 1;
inline constexpr int kDltRaw = 12;
inline constexpr int kDltRawOpenBsd = 14;
inline constexpr int kLinktypeRaw = 101;
inline constexpr int kDltLinuxSll = 113;
inline constexpr int kDltIpv4 = 228;
inline constexpr int kDltIpv6 = 229;
inline constexpr int kDltLinuxSll2 = 276;

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
// Offsets are 16-bit: nothing beyond the first 64 KiB of a capture is parsed.
inline constexpr size_t kMaxDecodedBytes = 65535;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;

struct TcpHeader {
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint16_t window = 0;
  uint8_t flags = 0;
  uint8_t header_length = 0;  // bytes, including options
  bool has_mss = false;
  bool has_timestamps = false;
  bool has_window_scale = false;
  bool sack_permitted = false;
  uint16_t mss = 0;
  uint8_t window_scale = 0;
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
};

struct UdpHeader {
  uint16_t length = 0;  // from the header (header + payload)
};

struct IcmpHeader {
  uint8_t type = 0;
  uint8_t code = 0;
  // Echo request/reply (and ICMPv4 timestamp) identifier and sequence.
  bool has_echo_fields = false;
  uint16_t id = 0;
  uint16_t sequence = 0;
  // For errors (unreachable, time exceeded, parameter problem, ...): where
  // the quoted original IP packet starts in the captured bytes; 0 otherwise.
  // Decode it with PacketDecoder::DecodeQuoted.
  bool is_error = false;
  uint16_t quoted_offset = 0;
};

struct DecodedPacket {
  IpAddress src;
  IpAddress dst;
  uint8_t ip_version = 0;  // 4 or 6
  uint8_t protocol = 0;    // transport protocol (after IPv6 extension headers)
  uint8_t ttl = 0;         // TTL or hop limit
  uint8_t vlan_count = 0;
  std::array<uint16_t, 2> vlan_ids{};  // outer first
  bool more_fragments = false;         // first fragment of a fragmented datagram
  uint16_t l3_offset = 0;
  uint16_t l4_offset = 0;
  // Transport payload: starts at payload_offset in the packet (possibly beyond
  // what was captured) and is payload_length bytes long on the wire.
  uint16_t payload_offset = 0;
  uint32_t payload_length = 0;
  uint32_t ip_length = 0;  // IP header + payload as stated by the IP header
  uint16_t src_port = 0;   // TCP/UDP
  uint16_t dst_port = 0;
  TcpHeader tcp;    // valid when protocol == kIpProtoTcp
  UdpHeader udp;    // valid when protocol == kIpProtoUdp
  IcmpHeader icmp;  // valid when protocol is ICMP or ICMPv6
};

// What PassiveRtt needs of a TCP segment, addresses as machine words (the
// address' network-order bytes 0-7 and 8-15, as IpAddress stores them:
// an IPv4 address fills the low 4 bytes of word 0, the rest is zero).
struct TcpSegmentFields {
  uint64_t src[2] = {0, 0};
  uint64_t dst[2] = {0, 0};
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint32_t tsval = 0;
  uint32_t tsecr = 0;
  uint32_t payload_length = 0;  // on the wire
  uint32_t ip_length = 0;       // IP header + payload as stated by the IP header
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t family = 4;  // AddressFamily as a number: 4 or 6
  uint8_t flags = 0;
  bool has_timestamps = false;

  // From a decoded TCP packet (status kOk, protocol TCP).
  static TcpSegmentFields From(const DecodedPacket& packet);
  friend bool operator==(const TcpSegmentFields&, const TcpSegmentFields&) = default;
};

// A TCP segment in the layout of nearly every packet of a timestamped flow
// captured on Ethernet (PacketDecoder::DecodeEthernetTimestampedTcp):
// addresses as in memory (network order, IpAddress's low 4 bytes), the rest
// as numbers; both addresses and both ports in one word each, as a flow key
// uses them.
struct TimestampedTcpSegment {
  // Both addresses' bytes as in memory: source | destination << 32.
  uint64_t addresses;
  uint32_t ports;  // source << 16 | destination
  uint8_t flags;
  uint32_t ip_length;  // IP header + payload as stated by the IP header
  // Two numbers in one word each, as one 8-byte big-endian load swapped
  // gives them: ack | seq << 32, and tsecr | tsval << 32 (so that a
  // consumer storing them as {ack, seq} and {tsecr, tsval} stores words).
  uint64_t ack_seq;
  uint64_t tsecr_tsval;
  uint32_t seq() const { return static_cast<uint32_t>(ack_seq >> 32); }
  uint32_t ack() const { return static_cast<uint32_t>(ack_seq); }
  uint32_t tsval() const { return static_cast<uint32_t>(tsecr_tsval >> 32); }
  uint32_t tsecr() const { return static_cast<uint32_t>(tsecr_tsval); }
  // The TCP payload on the wire: ip_length less 20 bytes of IPv4 header and
  // 32 of TCP header.
  uint32_t payload_length() const { return ip_length - 52; }
  uint32_t src() const { return static_cast<uint32_t>(addresses); }
  uint32_t dst() const { return static_cast<uint32_t>(addresses >> 32); }
  uint16_t src_port() const { return static_cast<uint16_t>(ports >> 16); }
  uint16_t dst_port() const { return static_cast<uint16_t>(ports); }
};

class PacketDecoder {
 public:
  // The common layout only, with one combined check: Ethernet without VLAN
  // tags, IPv4 without options, not a fragment, TCP whose options are
  // exactly NOP, NOP, timestamps (a 32-byte header). Returns true and fills
  // `out` for exactly those packets DecodeTcpSegment(kDltEn10mb, ...) takes
  // with such a header (has_timestamps, family 4, the same fields); false
  // for anything else (the caller then runs DecodeTcpSegment). `size` is
  // what was captured, `wire_length` the length on the wire (0: `size`).
  // Inline (below): it is the first step of nearly every packet.
  static bool DecodeEthernetTimestampedTcp(const uint8_t* bytes, size_t size, uint32_t wire_length,
                                           TimestampedTcpSegment* out);
  // The per-packet fast path of passive RTT: IPv4 without IP options, not a
  // fragment, carrying TCP, over Ethernet without VLAN tags, Linux SLL/SLL2
  // or raw IP. Returns true and fills `out` exactly as
  // TcpSegmentFields::From(Decode(...)) would when Decode gives kOk for such
  // a packet; returns false for anything else (the caller then runs Decode).
  // Inline (below): it is the first step of every packet.
  static bool DecodeTcpSegment(int link_type, absl::Span<const uint8_t> bytes, uint32_t wire_length,
                               TcpSegmentFields* out);
  // Decodes a packet captured with link type `link_type` (a DLT_* value).
  // `wire_length` is the length on the wire (0: same as bytes.size()).
  // Ethernet and raw IPv4 carrying TCP take a one-pass fast path.
  static DecodeStatus Decode(int link_type, absl::Span<const uint8_t> bytes, DecodedPacket* out,
                             uint32_t wire_length = 0);
  // The same without the fast path (the fuzzer checks that both agree).
  static DecodeStatus DecodeGeneral(int link_type, absl::Span<const uint8_t> bytes,
                                    DecodedPacket* out, uint32_t wire_length = 0);
  // Decodes from the IP header at `offset` (raw IP).
  static DecodeStatus DecodeIp(absl::Span<const uint8_t> bytes, size_t offset, DecodedPacket* out);
  // Decodes the original packet quoted by an ICMP error, starting at
  // `offset` (IcmpHeader::quoted_offset): lengths in the quoted header are
  // not checked against what is present, and only the first 8 transport
  // bytes are needed (ports and TCP sequence, UDP length, ICMP id/seq).
  static DecodeStatus DecodeQuoted(absl::Span<const uint8_t> bytes, size_t offset,
                                   DecodedPacket* out);

 private:
  // DecodeTcpSegment's options other than none or NOP, NOP, timestamps:
  // false when malformed. Fills only `timestamps` (by value, so that the
  // caller's fields can stay in registers).
  struct Timestamps {
    bool present;
    uint32_t tsval;
    uint32_t tsecr;
  };
  static bool ParseTimestampOption(const uint8_t* options, size_t length, Timestamps* timestamps);
};

namespace decoder_internal {
// Big-endian (network order) loads, for the decoder only.
static_assert(std::endian::native == std::endian::little);
inline uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
// Two consecutive big-endian 32-bit numbers a, b (a first): b | a << 32.
inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
}  // namespace decoder_internal

inline bool PacketDecoder::DecodeTcpSegment(int link_type, absl::Span<const uint8_t> bytes,
                                            uint32_t wire_length, TcpSegmentFields* out) {
  using decoder_internal::Load16;
  using decoder_internal::Load32;
  const size_t size = bytes.size();
  const uint8_t* p = bytes.data();
  size_t l3;
  // Ethernet first: nearly every capture.
  if (link_type == kDltEn10mb) {
    if (size < 14 || Load16(p + 12) != kEtherTypeIpv4) return false;
    l3 = 14;
  } else {
    switch (link_type) {
      case kDltLinuxSll:
        if (size < 16 || Load16(p + 14) != kEtherTypeIpv4) return false;
        l3 = 16;
        break;
      case kDltLinuxSll2:
        if (size < 20 || Load16(p) != kEtherTypeIpv4) return false;
        l3 = 20;
        break;
      case kDltRaw:
      case kDltRawOpenBsd:
      case kLinktypeRaw:
      case kDltIpv4:
        l3 = 0;
        break;
      default:
        return false;
    }
  }
  if (size > kMaxDecodedBytes || size < l3 + 40) return false;
  const size_t wire = wire_length > size ? wire_length : size;
  const uint8_t* ip = p + l3;
  if (ip[0] != 0x45 || ip[9] != kIpProtoTcp) return false;
  const uint32_t total_length = Load16(ip + 2);
  // total_length 0 (segmentation offload), bad lengths, fragments: general path.
  if (total_length < 40 || total_length > wire - l3 || (Load16(ip + 6) & 0x1fff) != 0) {
    return false;
  }
  const uint8_t* tcp = ip + 20;
  const size_t header_length = static_cast<size_t>(tcp[12] >> 4) * 4;
  if (header_length < 20 || header_length > total_length - 20 || header_length > size - l3 - 20) {
    return false;
  }
  if (header_length == 20) {
    out->has_timestamps = false;
    out->tsval = 0;
    out->tsecr = 0;
  } else if (header_length == 32 && Load32(tcp + 20) == 0x0101080a) {
    // NOP, NOP, timestamps: nearly every segment after the handshake.
    out->has_timestamps = true;
    out->tsval = Load32(tcp + 24);
    out->tsecr = Load32(tcp + 28);
  } else {
    Timestamps timestamps;
    if (!ParseTimestampOption(tcp + 20, header_length - 20, &timestamps)) return false;
    out->has_timestamps = timestamps.present;
    out->tsval = timestamps.tsval;
    out->tsecr = timestamps.tsecr;
  }
  uint32_t src;
  uint32_t dst;
  std::memcpy(&src, ip + 12, 4);
  std::memcpy(&dst, ip + 16, 4);
  out->src[0] = src;
  out->src[1] = 0;
  out->dst[0] = dst;
  out->dst[1] = 0;
  out->family = 4;
  out->src_port = Load16(tcp);
  out->dst_port = Load16(tcp + 2);
  out->seq = Load32(tcp + 4);
  out->ack = Load32(tcp + 8);
  out->flags = tcp[13];
  out->ip_length = total_length;
  out->payload_length = total_length - 20 - static_cast<uint32_t>(header_length);
  return true;
}

inline bool PacketDecoder::DecodeEthernetTimestampedTcp(const uint8_t* p, size_t size,
                                                        uint32_t wire_length,
                                                        TimestampedTcpSegment* out) {
  using decoder_internal::Load16;
  using decoder_internal::Load32;
  using decoder_internal::Load64;
  // Ethernet (14 bytes), IPv4 (20), TCP (32): every header byte captured.
  constexpr size_t kHeaders = 14 + 20 + 32;
  if (size - kHeaders > kMaxDecodedBytes - kHeaders) return false;  // also size < kHeaders
#if defined(__SSE2__)
  // The fixed bytes, all compared at once, in two 16-byte loads (bytes
  // 12-27 and 44-59; each byte under a mask against its value): the
  // EtherType (0x0800) with IPv4's version and header length (0x45); the
  // fragment offset (13 bits: 0) and the protocol (TCP, byte 23); the TCP
  // data offset (8 words: the high nibble of byte 46); the options NOP,
  // NOP, timestamps (10) at bytes 54-57.
  const __m128i ip_bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12));
  const __m128i tcp_options = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 44));
  const __m128i ip_ok = _mm_cmpeq_epi8(
      _mm_and_si128(ip_bytes,
                    _mm_setr_epi8(-1, -1, -1, 0, 0, 0, 0, 0, 0x1f, -1, 0, -1, 0, 0, 0, 0)),
      _mm_setr_epi8(0x08, 0, 0x45, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0));
  const __m128i tcp_ok = _mm_cmpeq_epi8(
      _mm_and_si128(tcp_options, _mm_setr_epi8(0, 0, static_cast<char>(0xf0), 0, 0, 0, 0, 0, 0, 0,
                                               -1, -1, -1, -1, 0, 0)),
      _mm_setr_epi8(0, 0, static_cast<char>(0x80), 0, 0, 0, 0, 0, 0, 0, 1, 1, 8, 10, 0, 0));
  if (_mm_movemask_epi8(_mm_and_si128(ip_ok, tcp_ok)) != 0xffff) return false;
#else
  // Machine-order loads of the fixed bytes, all compared at once: the
  // EtherType (0x0800) with IPv4's version and header length (0x45); the
  // fragment offset (13 bits: 0) and the protocol (TCP, byte 9); the TCP
  // data offset (8 words: its high nibble); the options NOP, NOP, timestamps (10).
  static_assert(std::endian::native == std::endian::little);
  uint32_t ether_ip;
  uint32_t fragment_protocol;
  uint32_t options;
  std::memcpy(&ether_ip, p + 12, 4);
  std::memcpy(&fragment_protocol, p + 14 + 6, 4);
  std::memcpy(&options, p + 14 + 20 + 20, 4);
  const uint32_t data_offset = p[14 + 20 + 12];
  if ((((ether_ip & 0x00ffffff) ^ 0x00450008) | ((fragment_protocol & 0xff00ff1f) ^ 0x06000000) |
       ((data_offset & 0xf0) ^ 0x80) | (options ^ 0x0a080101)) != 0) {
    return false;
  }
#endif
  // The IP total length covers both headers and fits what went on the wire
  // (0, from segmentation offload, does not).
  const uint32_t total_length = Load16(p + 14 + 2);
  const size_t wire = wire_length > size ? wire_length : size;
  if (total_length - (20 + 32) > wire - kHeaders) return false;
  const uint8_t* ip = p + 14;
  const uint8_t* tcp = ip + 20;
  std::memcpy(&out->addresses, ip + 12, 8);
  out->ports = Load32(tcp);
  out->ack_seq = Load64(tcp + 4);  // seq, ack
  out->flags = tcp[13];
  out->tsecr_tsval = Load64(tcp + 24);  // TSval, TSecr
  out->ip_length = total_length;
  return true;
}

// Per-status counts, for metrics and reports.
struct DecodeCounters {
  std::array<uint64_t, static_cast<size_t>(DecodeStatus::kCount)> counts{};

  void Count(DecodeStatus status) { ++counts[static_cast<size_t>(status)]; }
  uint64_t Get(DecodeStatus status) const { return counts[static_cast<size_t>(status)]; }
  // Everything but kOk.
  uint64_t Failures() const;
};

}  // namespace vantage::probe
