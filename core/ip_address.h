// IpAddress, Prefix and Endpoint: the address vocabulary shared by the probe,
// the collector and the graph. Values, cheap to copy, no allocation.
//
// Thread model: immutable values; safe to share between threads.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct in_addr;
struct in6_addr;
struct sockaddr;
struct sockaddr_storage;

namespace vantage {

enum class AddressFamily : uint8_t { kIPv4 = 4, kIPv6 = 6 };

class IpAddress {
 public:
  // 0.0.0.0
  IpAddress() = default;

  static IpAddress V4(uint32_t host_order);
  static IpAddress V4Bytes(const uint8_t bytes[4]);
  static IpAddress V6Bytes(const uint8_t bytes[16]);
  static IpAddress FromInAddr(const in_addr& a);
  static IpAddress FromIn6Addr(const in6_addr& a);
  // "198.18.0.1" or "2001:db8::1" (no brackets, no zone).
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);

  AddressFamily family() const { return family_; }
  bool is_v4() const { return family_ == AddressFamily::kIPv4; }
  bool is_v6() const { return family_ == AddressFamily::kIPv6; }
  // 32 or 128.
  int bit_width() const { return is_v4() ? 32 : 128; }
  // Network-order bytes; 4 meaningful bytes for IPv4, 16 for IPv6.
  const uint8_t* bytes() const { return bytes_.data(); }
  int byte_length() const { return is_v4() ? 4 : 16; }
  uint32_t v4_host_order() const;

  // Bit `i` counted from the most significant bit (0-based).
  bool bit(int i) const;
  // This address with every bit from `length` on cleared.
  IpAddress Masked(int length) const;

  std::string ToString() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted <=>
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), a.family_, a.bytes_);
  }

 private:
  friend class Prefix;  // AssignV4Masked

  AddressFamily family_ = AddressFamily::kIPv4;
  std::array<uint8_t, 16> bytes_{};
};

class Prefix {
 public:
  Prefix() = default;
  // Clears host bits of `address` beyond `length`. `length` must be in
  // [0, bit_width]; out-of-range lengths are clamped.
  Prefix(IpAddress address, int length);
  // The host prefix (/32 or /128) of an address.
  static Prefix Host(IpAddress address);
  // *this = Prefix(IpAddress::V4Bytes(b), length), with `b` the 4 bytes
  // `bytes` holds in memory (network order), without masking or clamping:
  // `length` must be in [0, 32] and the bits from `length` on already clear.
  // In place, as word stores (per-flow paths: a Prefix built aside and
  // copied is reloaded before its narrower stores retire, a
  // store-forwarding stall).
  void AssignV4Masked(uint32_t bytes, int length) {
    address_.family_ = AddressFamily::kIPv4;
    const uint64_t low = bytes;  // and 4 zero bytes
    const uint64_t high = 0;
    std::memcpy(address_.bytes_.data(), &low, 8);
    std::memcpy(address_.bytes_.data() + 8, &high, 8);
    length_ = length;
  }

  // "198.18.0.0/15", "2001:db8::/32", or a bare address (a host prefix).
  // Rejects host bits set beyond the length (a common typo that would
  // silently widen a match), naming the prefix that was probably meant.
  static absl::StatusOr<Prefix> Parse(absl::string_view text);

  const IpAddress& address() const { return address_; }
  int length() const { return length_; }
  AddressFamily family() const { return address_.family(); }

  bool Contains(const IpAddress& a) const;
  bool Contains(const Prefix& p) const;
  // A shorter prefix covering this one; returns *this when `length` is not
  // shorter.
  Prefix Truncate(int length) const;
  // The aggregation unit that may leave a probe: /24 for IPv4, /48 for IPv6
  // (or shorter if this prefix already is).
  Prefix ClientAggregate() const;

  std::string ToString() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted <=>
  friend auto operator<=>(const Prefix&, const Prefix&) = default;
  friend bool operator==(const Prefix&, const Prefix&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Prefix& p) {
    return H::combine(std::move(h), p.address_, p.length_);
  }

 private:
  IpAddress address_;
  int length_ = 0;
};

class Endpoint {
 public:
  Endpoint() = default;
  Endpoint(IpAddress address, uint16_t port) : address_(address), port_(port) {}

  // "198.18.0.1:53", "[2001:db8::1]:53"; when the text has no port,
  // `default_port` is used (an error if it is 0). An explicit ":0" is
  // accepted (bind to any free port).
  static absl::StatusOr<Endpoint> Parse(absl::string_view text, uint16_t default_port = 0);
  static absl::StatusOr<Endpoint> FromSockaddr(const sockaddr* sa);

  const IpAddress& address() const { return address_; }
  uint16_t port() const { return port_; }

  // Fills `out` and returns the sockaddr length to pass to the kernel.
  unsigned ToSockaddr(sockaddr_storage* out) const;
  std::string ToString() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted <=>
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Endpoint& e) {
    return H::combine(std::move(h), e.address_, e.port_);
  }

 private:
  IpAddress address_;
  uint16_t port_ = 0;
};

}  // namespace vantage
