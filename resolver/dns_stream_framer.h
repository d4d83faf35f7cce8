// DnsStreamFramer: splits a DNS-over-TCP byte stream (RFC 1035 4.2.2: each
// message prefixed by its 16-bit length) into messages, whatever the read or
// write boundaries were. The prober runs one per TCP socket and direction to
// see the queries it wrote and the answers c-ares reads.
//
// Thread model: a value type; not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/types/span.h"

namespace vantage::resolver {

class DnsStreamFramer {
 public:
  using MessageCallback = std::function<void(absl::Span<const uint8_t> message)>;

  // Appends `bytes`; calls `on_message` for every message completed by them.
  void Feed(absl::Span<const uint8_t> bytes, const MessageCallback& on_message);
  size_t buffered() const { return buffer_.size(); }

 private:
  std::vector<uint8_t> buffer_;
};

}  // namespace vantage::resolver
