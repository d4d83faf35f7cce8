#include "core/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace vantage {

IpAddress IpAddress::V4(uint32_t host_order) {
  IpAddress a;
  a.family_ = AddressFamily::kIPv4;
  a.bytes_[0] = static_cast<uint8_t>(host_order >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::V4Bytes(const uint8_t bytes[4]) {
  IpAddress a;
  a.family_ = AddressFamily::kIPv4;
  std::memcpy(a.bytes_.data(), bytes, 4);
  return a;
}

IpAddress IpAddress::V6Bytes(const uint8_t bytes[16]) {
  IpAddress a;
  a.family_ = AddressFamily::kIPv6;
  std::memcpy(a.bytes_.data(), bytes, 16);
  return a;
}

IpAddress IpAddress::FromInAddr(const in_addr& a) {
  return V4Bytes(reinterpret_cast<const uint8_t*>(&a.s_addr));
}

IpAddress IpAddress::FromIn6Addr(const in6_addr& a) { return V6Bytes(a.s6_addr); }

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return FromInAddr(v4);
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) return FromIn6Addr(v6);
  return absl::InvalidArgumentError(absl::StrCat("not an IPv4 or IPv6 address: '", text, "'"));
}

uint32_t IpAddress::v4_host_order() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

bool IpAddress::bit(int i) const { return (bytes_[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1; }

static_assert(std::endian::native == std::endian::little);

IpAddress IpAddress::Masked(int length) const {
  // Two big-endian 64-bit masks over the 16 bytes (an IPv4 address uses the
  // first 4; the rest are zero): flows are keyed by prefix once each, so
  // this is on the passive path.
  length = std::clamp(length, 0, bit_width());
  if (is_v4()) {
    // The 4 bytes alone: a 16-byte load of an address just built byte-wise
    // would wait for its stores (no store forwarding), once per new flow.
    uint32_t word;
    std::memcpy(&word, bytes_.data(), 4);
    word &= __builtin_bswap32(length == 0 ? 0 : ~uint32_t{0} << (32 - length));
    IpAddress out;
    std::memcpy(out.bytes_.data(), &word, 4);
    return out;
  }
  const uint64_t high = length == 0 ? 0 : ~uint64_t{0} << (64 - std::min(length, 64));
  const uint64_t low = length <= 64 ? 0 : ~uint64_t{0} << (128 - length);
  uint64_t words[2];
  std::memcpy(words, bytes_.data(), 16);
  words[0] &= __builtin_bswap64(high);
  words[1] &= __builtin_bswap64(low);
  IpAddress out = *this;
  std::memcpy(out.bytes_.data(), words, 16);
  return out;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof(buf));
  return buf;
}

Prefix::Prefix(IpAddress address, int length)
    : address_(address.Masked(length)), length_(std::clamp(length, 0, address.bit_width())) {}

Prefix Prefix::Host(IpAddress address) { return Prefix(address, address.bit_width()); }

absl::StatusOr<Prefix> Prefix::Parse(absl::string_view text) {
  const size_t slash = text.find('/');
  auto addr = IpAddress::Parse(text.substr(0, slash));
  if (!addr.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not a prefix: '", text, "'"));
  }
  if (slash == absl::string_view::npos) return Host(*addr);
  int length = -1;
  if (!absl::SimpleAtoi(text.substr(slash + 1), &length) || length < 0 ||
      length > addr->bit_width()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad prefix length in '", text, "': want 0..", addr->bit_width()));
  }
  Prefix p(*addr, length);
  if (p.address() != *addr) {
    return absl::InvalidArgumentError(
        absl::StrCat("host bits set in '", text, "' (did you mean ", p.ToString(), "?)"));
  }
  return p;
}

bool Prefix::Contains(const IpAddress& a) const {
  return a.family() == family() && a.Masked(length_) == address_;
}

bool Prefix::Contains(const Prefix& p) const {
  return p.family() == family() && p.length_ >= length_ && Contains(p.address_);
}

Prefix Prefix::Truncate(int length) const {
  if (length >= length_) return *this;
  return Prefix(address_, length);
}

Prefix Prefix::ClientAggregate() const { return Truncate(address_.is_v4() ? 24 : 48); }

std::string Prefix::ToString() const { return absl::StrCat(address_.ToString(), "/", length_); }

absl::StatusOr<Endpoint> Endpoint::Parse(absl::string_view text, uint16_t default_port) {
  absl::string_view host = text;
  absl::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("missing ']' in '", text, "'"));
    }
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("expected ':port' after ']' in '", text, "'"));
      }
      port_text = rest.substr(1);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const size_t colon = text.find(':');
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  auto addr = IpAddress::Parse(host);
  if (!addr.ok()) return addr.status();
  uint32_t port = default_port;
  if (port_text.empty()) {
    if (default_port == 0) {
      return absl::InvalidArgumentError(absl::StrCat("no port in '", text, "'"));
    }
  } else if (!absl::SimpleAtoi(port_text, &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port in '", text, "'"));
  }
  return Endpoint(*addr, static_cast<uint16_t>(port));
}

absl::StatusOr<Endpoint> Endpoint::FromSockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    return Endpoint(IpAddress::FromInAddr(sin->sin_addr), ntohs(sin->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return Endpoint(IpAddress::FromIn6Addr(sin6->sin6_addr), ntohs(sin6->sin6_port));
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported address family ", sa->sa_family));
}

unsigned Endpoint::ToSockaddr(sockaddr_storage* out) const {
  std::memset(out, 0, sizeof(*out));
  if (address_.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port_);
    std::memcpy(&sin->sin_addr, address_.bytes(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port_);
  std::memcpy(&sin6->sin6_addr, address_.bytes(), 16);
  return sizeof(sockaddr_in6);
}

std::string Endpoint::ToString() const {
  if (address_.is_v6()) return absl::StrCat("[", address_.ToString(), "]:", port_);
  return absl::StrCat(address_.ToString(), ":", port_);
}

}  // namespace vantage
