// The addresses of a raw IPv4 or IPv6 packet as read from a TUN device
// (IFF_NO_PI: the packet starts with the IP header).
//
// Thread model: pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/ip_address.h"

namespace vantage::lab {

struct PacketAddresses {
  IpAddress source;
  IpAddress destination;
};

// nullopt for anything that is not a well-formed IPv4/IPv6 header start.
std::optional<PacketAddresses> ParsePacketAddresses(const uint8_t* data, size_t size);

}  // namespace vantage::lab
