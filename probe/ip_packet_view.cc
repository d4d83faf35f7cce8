#include "probe/ip_packet_view.h"

#include <algorithm>
#include <cstddef>

#include "probe/packet_decoder.h"

namespace vantage::probe {

std::optional<IpPacketView> ParseIpPacket(absl::Span<const uint8_t> bytes) {
  if (bytes.empty()) return std::nullopt;
  const int version = bytes[0] >> 4;
  IpPacketView view;
  if (version == 4) {
    if (bytes.size() < 20) return std::nullopt;
    const size_t header_length = static_cast<size_t>(bytes[0] & 0x0f) * 4;
    if (header_length < 20 || header_length > bytes.size()) return std::nullopt;
    const size_t total_length = (static_cast<size_t>(bytes[2]) << 8) | bytes[3];
    if (total_length < header_length) return std::nullopt;
    // Fragments other than the first carry no L4 header of ours.
    const uint16_t fragment_offset = static_cast<uint16_t>(((bytes[6] & 0x1f) << 8) | bytes[7]);
    if (fragment_offset != 0) return std::nullopt;
    view.ttl = bytes[8];
    view.protocol = bytes[9];
    view.source = IpAddress::V4Bytes(&bytes[12]);
    view.destination = IpAddress::V4Bytes(&bytes[16]);
    const size_t end = std::min(bytes.size(), total_length);
    view.l4 = bytes.subspan(header_length, end - header_length);
    return view;
  }
  if (version == 6) {
    if (bytes.size() < 40) return std::nullopt;
    const size_t payload_length = (static_cast<size_t>(bytes[4]) << 8) | bytes[5];
    view.protocol = bytes[6];
    view.ttl = bytes[7];
    view.source = IpAddress::V6Bytes(&bytes[8]);
    view.destination = IpAddress::V6Bytes(&bytes[24]);
    const size_t end = std::min(bytes.size(), 40 + payload_length);
    view.l4 = bytes.subspan(40, end - 40);
    return view;
  }
  return std::nullopt;
}

std::optional<IpPacketView> IpPacketFromCapture(const CapturedPacket& packet) {
  DecodedPacket d;
  if (PacketDecoder::Decode(packet.link_type, packet.bytes, &d, packet.wire_length) !=
      DecodeStatus::kOk) {
    return std::nullopt;
  }
  IpPacketView view;
  view.source = d.src;
  view.destination = d.dst;
  view.protocol = d.protocol;
  view.ttl = d.ttl;
  const size_t ip_end =
      std::min(packet.bytes.size(), static_cast<size_t>(d.l3_offset) + d.ip_length);
  if (d.l4_offset > ip_end) return std::nullopt;
  view.l4 = packet.bytes.subspan(d.l4_offset, ip_end - d.l4_offset);
  return view;
}

}  // namespace vantage::probe
