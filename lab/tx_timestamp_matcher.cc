#include "lab/tx_timestamp_matcher.h"

#include <algorithm>
#include <cstring>

namespace vantage::lab {

bool TxTimestampMatcher::SameHead(const TappedPacket& tapped, const uint8_t* packet, size_t size) {
  const size_t n = std::min(size, kHeadBytes);
  // A tap entry holds min(its packet's length, kHeadBytes) bytes: equal heads
  // have equal lengths up to kHeadBytes.
  return tapped.head.size() == n && std::memcmp(tapped.head.data(), packet, n) == 0;
}

void TxTimestampMatcher::Expire(absl::Time now) {
  while (!pending_.empty() && now - pending_.front().stamped > max_age_) {
    pending_.pop_front();
    ++counters_.expired;
  }
}

std::optional<absl::Time> TxTimestampMatcher::Match(const uint8_t* packet, size_t size,
                                                    absl::Time now, const TapReader& read_tap) {
  Expire(now);
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (SameHead(*it, packet, size)) {
      const absl::Time t = it->stamped;
      pending_.erase(it);
      ++counters_.matched;
      return t;
    }
  }
  while (std::optional<TappedPacket> tapped = read_tap()) {
    if (now - tapped->stamped > max_age_) {
      ++counters_.expired;
      continue;
    }
    if (SameHead(*tapped, packet, size)) {
      ++counters_.matched;
      return tapped->stamped;
    }
    if (pending_.size() >= max_pending_) {
      pending_.pop_front();
      ++counters_.overflow;
    }
    pending_.push_back(std::move(*tapped));
  }
  ++counters_.unmatched;
  return std::nullopt;
}

}  // namespace vantage::lab
