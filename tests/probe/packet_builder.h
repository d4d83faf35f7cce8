// PacketBuilder: hand-built packets for probe tests — link header (Ethernet
// with optional VLAN tags, SLL, SLL2, raw), IPv4/IPv6 (optional extension
// headers), TCP (with MSS / timestamp options), UDP, ICMP. Checksums are
// left zero: nothing in the probe verifies them.
//
// Thread model: a value type used by one test.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ip_address.h"

namespace vantage::probe::testing {

enum class Link { kEthernet, kSll, kSll2, kRaw };

struct TcpSpec {
  uint16_t src_port = 40000;
  uint16_t dst_port = 443;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535;
  std::optional<uint16_t> mss;
  std::optional<std::pair<uint32_t, uint32_t>> timestamps;  // tsval, tsecr
  std::string payload;
};

class PacketBuilder {
 public:
  PacketBuilder(IpAddress src, IpAddress dst) : src_(src), dst_(dst) {}

  PacketBuilder& WithLink(Link link) {
    link_ = link;
    return *this;
  }
  PacketBuilder& WithVlan(uint16_t id) {
    vlans_.push_back(id);
    return *this;
  }
  PacketBuilder& WithTtl(uint8_t ttl) {
    ttl_ = ttl;
    return *this;
  }
  // IPv6 only: a destination-options header (8 bytes) before the transport.
  PacketBuilder& WithIpv6DestOptions() {
    v6_dest_options_ = true;
    return *this;
  }

  std::vector<uint8_t> Tcp(const TcpSpec& spec) const;
  std::vector<uint8_t> Udp(uint16_t src_port, uint16_t dst_port, const std::string& payload) const;
  std::vector<uint8_t> Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
                            const std::vector<uint8_t>& body = {}) const;

  // The DLT_* value of the link chosen.
  int link_type() const;

 private:
  std::vector<uint8_t> Wrap(uint8_t protocol, const std::vector<uint8_t>& l4) const;

  IpAddress src_;
  IpAddress dst_;
  Link link_ = Link::kEthernet;
  std::vector<uint16_t> vlans_;
  uint8_t ttl_ = 64;
  bool v6_dest_options_ = false;
};

}  // namespace vantage::probe::testing
