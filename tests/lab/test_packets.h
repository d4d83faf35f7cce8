// Builds minimal raw IP packets for the lab's unit tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/ip_address.h"

namespace vantage::lab::testing {

inline std::vector<uint8_t> MakePacket(const IpAddress& src, const IpAddress& dst,
                                       uint8_t tag = 0) {
  std::vector<uint8_t> p;
  if (src.is_v4()) {
    p.assign(28, 0);
    p[0] = 0x45;
    p[3] = 28;
    p[8] = 64;
    p[9] = 17;
    for (int i = 0; i < 4; ++i) {
      p[12 + i] = src.bytes()[i];
      p[16 + i] = dst.bytes()[i];
    }
  } else {
    p.assign(48, 0);
    p[0] = 0x60;
    p[5] = 8;
    p[6] = 17;
    p[7] = 64;
    for (int i = 0; i < 16; ++i) {
      p[8 + i] = src.bytes()[i];
      p[24 + i] = dst.bytes()[i];
    }
  }
  p.back() = tag;
  return p;
}

inline IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

}  // namespace vantage::lab::testing
