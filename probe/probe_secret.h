// ProbeSecret: the per-run random key that makes our probes unforgeable by an
// off-path sender. Identifiers and payload of every probe carry a keyed MAC
// (SipHash-2-4) over the fields a reply echoes; a reply whose MAC does not
// verify is counted as forged and never matched.
//
// The key comes from getrandom(2) and is never printed or logged; ToString
// is deliberately absent.
//
// Thread model: immutable after construction; safe to share.
#pragma once

#include <array>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace vantage::probe {

class ProbeSecret {
 public:
  // A fresh random key from the kernel.
  static absl::StatusOr<ProbeSecret> Generate();
  // A fixed key, for tests and fuzzing only.
  static ProbeSecret FromKey(uint64_t k0, uint64_t k1) { return ProbeSecret(k0, k1); }

  // SipHash-2-4 of `bytes` under the key.
  uint64_t Mac(absl::Span<const uint8_t> bytes) const;

 private:
  ProbeSecret(uint64_t k0, uint64_t k1) : k0_(k0), k1_(k1) {}
  uint64_t k0_;
  uint64_t k1_;
};

// Collects fields into a fixed buffer for ProbeSecret::Mac.
class MacInput {
 public:
  MacInput& Bytes(const uint8_t* data, int length);
  MacInput& U8(uint8_t v) { return Bytes(&v, 1); }
  MacInput& U16(uint16_t v);
  MacInput& U32(uint32_t v);
  absl::Span<const uint8_t> span() const { return absl::MakeConstSpan(buffer_.data(), size_); }

 private:
  std::array<uint8_t, 96> buffer_{};
  size_t size_ = 0;
};

}  // namespace vantage::probe
