#include "resolver/dns_stream_framer.h"

namespace vantage::resolver {

void DnsStreamFramer::Feed(absl::Span<const uint8_t> bytes, const MessageCallback& on_message) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  size_t pos = 0;
  while (buffer_.size() - pos >= 2) {
    const size_t length = (static_cast<size_t>(buffer_[pos]) << 8) | buffer_[pos + 1];
    if (buffer_.size() - pos - 2 < length) break;
    on_message(absl::Span<const uint8_t>(buffer_.data() + pos + 2, length));
    pos += 2 + length;
  }
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos));
}

}  // namespace vantage::resolver
