// InternetChecksum: the RFC 1071 ones'-complement sum used by IPv4, ICMP, TCP
// and UDP, accumulated over pieces (pseudo-header, header, payload).
//
// Thread model: a value type.
#pragma once

#include <cstdint>

#include "absl/types/span.h"
#include "core/ip_address.h"

namespace vantage::probe {

class InternetChecksum {
 public:
  // Adds bytes as big-endian 16-bit words. Pieces after the first must start
  // on an even offset of the checksummed data (an odd-length piece may only
  // be the last one).
  void Add(absl::Span<const uint8_t> bytes);
  void Add16(uint16_t word) { sum_ += word; }
  // The TCP/UDP pseudo-header (RFC 793 / RFC 8200 section 8.1).
  void AddPseudoHeader(const IpAddress& source, const IpAddress& destination, uint8_t protocol,
                       uint32_t l4_length);
  // The folded ones'-complement sum (not inverted).
  uint16_t Sum() const;
  // The value to put in a checksum field: ~Sum(), in host order.
  uint16_t Checksum() const { return static_cast<uint16_t>(~Sum()); }

 private:
  uint64_t sum_ = 0;
};

}  // namespace vantage::probe
