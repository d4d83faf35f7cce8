#include "lab/packet_header.h"

namespace vantage::lab {

std::optional<PacketAddresses> ParsePacketAddresses(const uint8_t* data, size_t size) {
  if (size < 1) return std::nullopt;
  const int version = data[0] >> 4;
  if (version == 4) {
    const size_t header_length = static_cast<size_t>(data[0] & 0x0f) * 4;
    if (size < 20 || header_length < 20 || header_length > size) return std::nullopt;
    return PacketAddresses{IpAddress::V4Bytes(data + 12), IpAddress::V4Bytes(data + 16)};
  }
  if (version == 6) {
    if (size < 40) return std::nullopt;
    return PacketAddresses{IpAddress::V6Bytes(data + 8), IpAddress::V6Bytes(data + 24)};
  }
  return std::nullopt;
}

}  // namespace vantage::lab
