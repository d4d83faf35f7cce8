#include "probe/internet_checksum.h"

#include <cstddef>

namespace vantage::probe {

void InternetChecksum::Add(absl::Span<const uint8_t> bytes) {
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum_ += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  if (i < bytes.size()) sum_ += static_cast<uint32_t>(bytes[i] << 8);
}

void InternetChecksum::AddPseudoHeader(const IpAddress& source, const IpAddress& destination,
                                       uint8_t protocol, uint32_t l4_length) {
  Add(absl::MakeConstSpan(source.bytes(), static_cast<size_t>(source.byte_length())));
  Add(absl::MakeConstSpan(destination.bytes(), static_cast<size_t>(destination.byte_length())));
  sum_ += protocol;
  sum_ += l4_length >> 16;
  sum_ += l4_length & 0xffff;
}

uint16_t InternetChecksum::Sum() const {
  uint64_t s = sum_;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

}  // namespace vantage::probe
