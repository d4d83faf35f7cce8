// ClientPrefixer: turns a client address into the only form that may leave
// the packet parser — its aggregate prefix (/24 IPv4, /48 IPv6 by default),
// pseudonymised with a keyed prefix-preserving CryptoPan when a key is set.
// Pseudonyms are cached per prefix (bounded; cleared on key rotation); an
// IPv4 prefix's by its 4 address bytes (an integer hash and compare, once
// per new flow).
//
// Thread model: not synchronised; owned by the PassiveRtt that uses it.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/ip_address.h"
#include "probe/crypto_pan.h"

namespace vantage::probe {

class ClientPrefixer {
 public:
  // Per family.
  static constexpr size_t kMaxCachedPrefixes = 1 << 16;

  // Lengths are clamped to [0, 32] and [0, 128].
  ClientPrefixer(int v4_length = 24, int v6_length = 48);

  // Enables pseudonyms with a 32-byte key, or replaces the key (rotation):
  // prefixes computed afterwards use the new key; increments key_epoch().
  absl::Status SetKey(absl::string_view key);
  bool anonymizing() const { return pan_ != nullptr; }
  // 0 before any key; +1 per SetKey. Reports carry it so windows from
  // different keys are never merged.
  uint32_t key_epoch() const { return key_epoch_; }

  Prefix ClientPrefix(const IpAddress& address);
  // *out = ClientPrefix of the IPv4 address whose 4 network-order bytes
  // `bytes` holds in memory: the mask is a word operation and, without a
  // key, nothing is called and the prefix is written in place
  // (Prefix::AssignV4Masked), once per new flow.
  void ClientPrefixV4(uint32_t bytes, Prefix* out) {
    const uint32_t masked = bytes & v4_mask_;
    if (pan_ == nullptr) {
      out->AssignV4Masked(masked, v4_length_);
    } else {
      PseudonymV4(masked, out);
    }
  }

  int v4_length() const { return v4_length_; }
  int v6_length() const { return v6_length_; }

 private:
  // The pseudonym of the IPv4 prefix whose masked bytes are `masked`.
  void PseudonymV4(uint32_t masked, Prefix* out);

  int v4_length_;
  uint32_t v4_mask_;  // the first v4_length_ bits set, as the bytes lie in memory
  int v6_length_;
  std::unique_ptr<CryptoPan> pan_;
  uint32_t key_epoch_ = 0;
  // IPv4: a masked prefix's address bytes -> its pseudonym's (same length).
  absl::flat_hash_map<uint32_t, uint32_t> v4_cache_;
  absl::flat_hash_map<Prefix, Prefix> cache_;  // IPv6
};

}  // namespace vantage::probe
