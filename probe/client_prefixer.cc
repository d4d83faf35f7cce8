#include "probe/client_prefixer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace vantage::probe {

ClientPrefixer::ClientPrefixer(int v4_length, int v6_length)
    : v4_length_(std::clamp(v4_length, 0, 32)), v6_length_(std::clamp(v6_length, 0, 128)) {}

absl::Status ClientPrefixer::SetKey(absl::string_view key) {
  auto pan = CryptoPan::Create(key);
  if (!pan.ok()) return pan.status();
  pan_ = std::move(*pan);
  v4_cache_.clear();
  cache_.clear();
  ++key_epoch_;
  return absl::OkStatus();
}

Prefix ClientPrefixer::Pseudonym(const IpAddress& address, int length) {
  const Prefix prefix(address, length);
  if (address.is_v4()) {
    uint32_t bytes;
    std::memcpy(&bytes, prefix.address().bytes(), 4);
    auto it = v4_cache_.find(bytes);
    if (it != v4_cache_.end()) {
      return Prefix(IpAddress::V4Bytes(reinterpret_cast<const uint8_t*>(&it->second)), v4_length_);
    }
    if (v4_cache_.size() >= kMaxCachedPrefixes) v4_cache_.clear();
    const Prefix pseudonym = pan_->AnonymizePrefix(prefix);
    uint32_t pseudonym_bytes;
    std::memcpy(&pseudonym_bytes, pseudonym.address().bytes(), 4);
    v4_cache_.emplace(bytes, pseudonym_bytes);
    return pseudonym;
  }
  auto it = cache_.find(prefix);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCachedPrefixes) cache_.clear();
  const Prefix pseudonym = pan_->AnonymizePrefix(prefix);
  cache_.emplace(prefix, pseudonym);
  return pseudonym;
}

}  // namespace vantage::probe
