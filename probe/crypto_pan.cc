#include "probe/crypto_pan.h"

#include <openssl/evp.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vantage::probe {

absl::StatusOr<std::unique_ptr<CryptoPan>> CryptoPan::Create(absl::string_view key) {
  if (key.size() != kKeyBytes) {
    // The key itself is never echoed.
    return absl::InvalidArgumentError(
        absl::StrCat("a Crypto-PAn key is ", kKeyBytes, " bytes, got ", key.size()));
  }
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return absl::InternalError("EVP_CIPHER_CTX_new failed");
  const auto* raw = reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), nullptr, raw, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return absl::InternalError("AES-128 initialisation failed");
  }
  std::unique_ptr<CryptoPan> pan(new CryptoPan(ctx));
  pan->Encrypt(raw + 16, pan->pad_.data());
  return pan;
}

CryptoPan::CryptoPan(void* cipher_context) : context_(cipher_context) {}

CryptoPan::~CryptoPan() { EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(context_)); }

void CryptoPan::Encrypt(const uint8_t in[16], uint8_t out[16]) {
  int out_length = 0;
  // ECB without padding on one block cannot fail once initialised.
  EVP_EncryptUpdate(static_cast<EVP_CIPHER_CTX*>(context_), out, &out_length, in, 16);
}

void CryptoPan::AnonymizeBits(const uint8_t* in, int bits, uint8_t* out) {
  // Round i encrypts: the first i bits of the original address followed by
  // the pad's bits from i on (over the full 128-bit block, as the reference
  // implementation does for IPv4 with the address in the first 32 bits).
  std::memset(out, 0, 16);
  uint8_t block[16];
  uint8_t cipher[16];
  std::memcpy(block, pad_.data(), 16);
  for (int i = 0; i < bits; ++i) {
    Encrypt(block, cipher);
    const int byte = i / 8;
    const uint8_t mask = static_cast<uint8_t>(0x80 >> (i % 8));
    const bool original = (in[byte] & mask) != 0;
    const bool flip = (cipher[0] & 0x80) != 0;
    if (original != flip) out[byte] |= mask;
    // Next round: bit i of the block becomes the original bit i.
    if (original) {
      block[byte] |= mask;
    } else {
      block[byte] &= static_cast<uint8_t>(~mask);
    }
  }
}

IpAddress CryptoPan::Anonymize(const IpAddress& address) {
  uint8_t out[16];
  AnonymizeBits(address.bytes(), address.bit_width(), out);
  return address.is_v4() ? IpAddress::V4Bytes(out) : IpAddress::V6Bytes(out);
}

Prefix CryptoPan::AnonymizePrefix(const Prefix& prefix) {
  uint8_t out[16];
  const IpAddress& address = prefix.address();
  AnonymizeBits(address.bytes(), prefix.length(), out);
  return Prefix(address.is_v4() ? IpAddress::V4Bytes(out) : IpAddress::V6Bytes(out),
                prefix.length());
}

}  // namespace vantage::probe
