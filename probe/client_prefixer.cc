#include "probe/client_prefixer.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace vantage::probe {

ClientPrefixer::ClientPrefixer(int v4_length, int v6_length)
    : v4_length_(std::clamp(v4_length, 0, 32)),
      v4_mask_(__builtin_bswap32(v4_length_ == 0 ? 0 : ~uint32_t{0} << (32 - v4_length_))),
      v6_length_(std::clamp(v6_length, 0, 128)) {}

absl::Status ClientPrefixer::SetKey(absl::string_view key) {
  auto pan = CryptoPan::Create(key);
  if (!pan.ok()) return pan.status();
  pan_ = std::move(*pan);
  v4_cache_.clear();
  cache_.clear();
  ++key_epoch_;
  return absl::OkStatus();
}

Prefix ClientPrefixer::ClientPrefix(const IpAddress& address) {
  if (address.is_v4()) {
    uint32_t bytes;
    std::memcpy(&bytes, address.bytes(), 4);
    Prefix prefix;
    ClientPrefixV4(bytes, &prefix);
    return prefix;
  }
  const Prefix prefix(address, v6_length_);
  if (pan_ == nullptr) return prefix;
  auto it = cache_.find(prefix);
  if (it != cache_.end()) return it->second;
  if (cache_.size() >= kMaxCachedPrefixes) cache_.clear();
  const Prefix pseudonym = pan_->AnonymizePrefix(prefix);
  cache_.emplace(prefix, pseudonym);
  return pseudonym;
}

void ClientPrefixer::PseudonymV4(uint32_t masked, Prefix* out) {
  auto it = v4_cache_.find(masked);
  if (it != v4_cache_.end()) {
    out->AssignV4Masked(it->second, v4_length_);
    return;
  }
  if (v4_cache_.size() >= kMaxCachedPrefixes) v4_cache_.clear();
  Prefix prefix;
  prefix.AssignV4Masked(masked, v4_length_);
  *out = pan_->AnonymizePrefix(prefix);
  uint32_t pseudonym_bytes;
  std::memcpy(&pseudonym_bytes, out->address().bytes(), 4);
  v4_cache_.emplace(masked, pseudonym_bytes);
}

}  // namespace vantage::probe
