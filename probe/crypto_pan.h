// CryptoPan: keyed prefix-preserving address pseudonyms (Xu, Fan, Ammar,
// Moon: "Prefix-preserving IP address anonymization", the Crypto-PAn
// construction) with AES-128 from OpenSSL. Two addresses sharing a k-bit
// prefix get pseudonyms sharing a k-bit prefix, so pseudonymised /24s and
// /48s still aggregate and nest; without the key, pseudonyms can't be mapped
// back. Works for IPv4 (32 rounds) and IPv6 (128 rounds).
//
// The 32-byte key: bytes 0-15 are the AES key, bytes 16-31 are encrypted to
// make the padding (as in the reference implementation). The key is never
// logged or printed.
//
// Thread model: not synchronised (it reuses one cipher context); one per
// thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ip_address.h"

namespace vantage::probe {

class CryptoPan {
 public:
  static constexpr size_t kKeyBytes = 32;

  // `key` must be exactly 32 bytes of secret material.
  static absl::StatusOr<std::unique_ptr<CryptoPan>> Create(absl::string_view key);
  ~CryptoPan();
  CryptoPan(const CryptoPan&) = delete;
  CryptoPan& operator=(const CryptoPan&) = delete;

  // The pseudonym of a whole address.
  IpAddress Anonymize(const IpAddress& address);
  // The pseudonym of a prefix: the first `length` bits of the pseudonym of
  // any address inside it (only `length` AES rounds are spent).
  Prefix AnonymizePrefix(const Prefix& prefix);

 private:
  explicit CryptoPan(void* cipher_context);
  // Writes to `out` (16 bytes) the pseudonym of the first `bits` bits of
  // `in` (network order); later bits are cleared.
  void AnonymizeBits(const uint8_t* in, int bits, uint8_t* out);
  void Encrypt(const uint8_t in[16], uint8_t out[16]);

  void* context_;  // EVP_CIPHER_CTX
  std::array<uint8_t, 16> pad_{};
};

}  // namespace vantage::probe
