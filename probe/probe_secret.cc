#include "probe/probe_secret.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vantage::probe {
namespace {

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void SipRound(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = Rotl(v1, 13);
  v1 ^= v0;
  v0 = Rotl(v0, 32);
  v2 += v3;
  v3 = Rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = Rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = Rotl(v1, 17);
  v1 ^= v2;
  v2 = Rotl(v2, 32);
}

inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

absl::StatusOr<ProbeSecret> ProbeSecret::Generate() {
  uint8_t key[16];
  size_t got = 0;
  while (got < sizeof(key)) {
    const ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("getrandom: ", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return ProbeSecret(LoadLe64(key), LoadLe64(key + 8));
}

uint64_t ProbeSecret::Mac(absl::Span<const uint8_t> bytes) const {
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0_;
  uint64_t v1 = 0x646f72616e646f6dULL ^ k1_;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0_;
  uint64_t v3 = 0x7465646279746573ULL ^ k1_;
  const size_t n = bytes.size();
  const uint8_t* p = bytes.data();
  const size_t full = n & ~size_t{7};
  for (size_t i = 0; i < full; i += 8) {
    const uint64_t m = LoadLe64(p + i);
    v3 ^= m;
    SipRound(v0, v1, v2, v3);
    SipRound(v0, v1, v2, v3);
    v0 ^= m;
  }
  uint64_t b = static_cast<uint64_t>(n) << 56;
  for (size_t i = full; i < n; ++i) b |= static_cast<uint64_t>(p[i]) << (8 * (i - full));
  v3 ^= b;
  SipRound(v0, v1, v2, v3);
  SipRound(v0, v1, v2, v3);
  v0 ^= b;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) SipRound(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

MacInput& MacInput::Bytes(const uint8_t* data, int length) {
  const size_t n = static_cast<size_t>(length);
  if (size_ + n > buffer_.size()) std::abort();  // fixed field sets; a bug if it overflows
  std::memcpy(buffer_.data() + size_, data, n);
  size_ += n;
  return *this;
}

MacInput& MacInput::U16(uint16_t v) {
  const uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  return Bytes(b, 2);
}

MacInput& MacInput::U32(uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  return Bytes(b, 4);
}

}  // namespace vantage::probe
