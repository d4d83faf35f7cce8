#include "tests/probe/packet_builder.h"

namespace vantage::probe::testing {
namespace {

void Put16(std::vector<uint8_t>* v, uint16_t x) {
  v->push_back(static_cast<uint8_t>(x >> 8));
  v->push_back(static_cast<uint8_t>(x));
}
void Put32(std::vector<uint8_t>* v, uint32_t x) {
  Put16(v, static_cast<uint16_t>(x >> 16));
  Put16(v, static_cast<uint16_t>(x));
}

}  // namespace

int PacketBuilder::link_type() const {
  switch (link_) {
    case Link::kEthernet:
      return 1;
    case Link::kSll:
      return 113;
    case Link::kSll2:
      return 276;
    case Link::kRaw:
      return 12;
  }
  return 0;
}

std::vector<uint8_t> PacketBuilder::Tcp(const TcpSpec& spec) const {
  std::vector<uint8_t> options;
  if (spec.mss) {
    options.insert(options.end(), {2, 4});
    Put16(&options, *spec.mss);
  }
  if (spec.timestamps) {
    options.insert(options.end(), {1, 1, 8, 10});
    Put32(&options, spec.timestamps->first);
    Put32(&options, spec.timestamps->second);
  }
  while (options.size() % 4 != 0) options.push_back(0);
  std::vector<uint8_t> l4;
  Put16(&l4, spec.src_port);
  Put16(&l4, spec.dst_port);
  Put32(&l4, spec.seq);
  Put32(&l4, spec.ack);
  l4.push_back(static_cast<uint8_t>(((20 + options.size()) / 4) << 4));
  l4.push_back(spec.flags);
  Put16(&l4, spec.window);
  Put32(&l4, 0);  // checksum, urgent pointer
  l4.insert(l4.end(), options.begin(), options.end());
  l4.insert(l4.end(), spec.payload.begin(), spec.payload.end());
  return Wrap(6, l4);
}

std::vector<uint8_t> PacketBuilder::Udp(uint16_t src_port, uint16_t dst_port,
                                        const std::string& payload) const {
  std::vector<uint8_t> l4;
  Put16(&l4, src_port);
  Put16(&l4, dst_port);
  Put16(&l4, static_cast<uint16_t>(8 + payload.size()));
  Put16(&l4, 0);
  l4.insert(l4.end(), payload.begin(), payload.end());
  return Wrap(17, l4);
}

std::vector<uint8_t> PacketBuilder::Icmp(uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
                                         const std::vector<uint8_t>& body) const {
  std::vector<uint8_t> l4 = {type, code, 0, 0};
  Put16(&l4, id);
  Put16(&l4, seq);
  l4.insert(l4.end(), body.begin(), body.end());
  return Wrap(src_.is_v4() ? 1 : 58, l4);
}

std::vector<uint8_t> PacketBuilder::Wrap(uint8_t protocol, const std::vector<uint8_t>& l4) const {
  std::vector<uint8_t> ip;
  if (src_.is_v4()) {
    ip.push_back(0x45);
    ip.push_back(0);
    Put16(&ip, static_cast<uint16_t>(20 + l4.size()));
    Put32(&ip, 0x12344000);  // id, DF
    ip.push_back(ttl_);
    ip.push_back(protocol);
    Put16(&ip, 0);
    ip.insert(ip.end(), src_.bytes(), src_.bytes() + 4);
    ip.insert(ip.end(), dst_.bytes(), dst_.bytes() + 4);
  } else {
    const size_t ext = v6_dest_options_ ? 8 : 0;
    Put32(&ip, 0x60000000);
    Put16(&ip, static_cast<uint16_t>(ext + l4.size()));
    ip.push_back(v6_dest_options_ ? 60 : protocol);
    ip.push_back(ttl_);
    ip.insert(ip.end(), src_.bytes(), src_.bytes() + 16);
    ip.insert(ip.end(), dst_.bytes(), dst_.bytes() + 16);
    if (v6_dest_options_) {
      // Next header, length 0 (8 bytes), PadN option filling the rest.
      ip.insert(ip.end(), {protocol, 0, 1, 4, 0, 0, 0, 0});
    }
  }
  ip.insert(ip.end(), l4.begin(), l4.end());
  const uint16_t ether_type = src_.is_v4() ? 0x0800 : 0x86dd;
  std::vector<uint8_t> frame;
  switch (link_) {
    case Link::kEthernet:
      frame = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
      for (uint16_t vlan : vlans_) {
        Put16(&frame, &vlan == &vlans_.front() && vlans_.size() > 1 ? 0x88a8 : 0x8100);
        Put16(&frame, vlan);
      }
      Put16(&frame, ether_type);
      break;
    case Link::kSll:
      frame = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
      Put16(&frame, ether_type);
      break;
    case Link::kSll2:
      Put16(&frame, ether_type);
      Put16(&frame, 0);
      Put32(&frame, 2);  // ifindex
      Put16(&frame, 1);  // ARPHRD_ETHER
      frame.push_back(0);
      frame.push_back(6);
      frame.insert(frame.end(), {2, 0, 0, 0, 0, 1, 0, 0});
      break;
    case Link::kRaw:
      break;
  }
  frame.insert(frame.end(), ip.begin(), ip.end());
  return frame;
}

}  // namespace vantage::probe::testing
