// DnsQuestion: the (name, type, class) a DNS query asks, plus the record type
// and class constants the resolver uses and their text forms.
//
// Names are kept in presentation form without the trailing dot ("" is the
// root), lower-cased by the parser so questions compare case-insensitively.
//
// Thread model: a value type; not synchronised.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vantage::resolver {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSrv = 33;
inline constexpr uint16_t kTypeOpt = 41;
inline constexpr uint16_t kTypeDs = 43;
inline constexpr uint16_t kTypeDnskey = 48;
inline constexpr uint16_t kTypeHttps = 65;
inline constexpr uint16_t kTypeAny = 255;

inline constexpr uint16_t kClassIn = 1;
inline constexpr uint16_t kClassChaos = 3;

inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeFormErr = 1;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;
inline constexpr uint8_t kRcodeNotImp = 4;
inline constexpr uint8_t kRcodeRefused = 5;

struct DnsQuestion {
  std::string name;  // lower case, no trailing dot; "" is the root
  uint16_t type = kTypeA;
  uint16_t qclass = kClassIn;

  friend bool operator==(const DnsQuestion&, const DnsQuestion&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const DnsQuestion& q) {
    return H::combine(std::move(h), q.name, q.type, q.qclass);
  }
};

// "A", "aaaa", "TYPE65" or a bare number.
absl::StatusOr<uint16_t> ParseDnsType(absl::string_view text);
// "A", "AAAA", ..., "TYPE<n>" for the rest.
std::string DnsTypeName(uint16_t type);
// "NOERROR", "NXDOMAIN", ..., "RCODE<n>" for the rest.
std::string DnsRcodeName(int rcode);
// Checks and normalises a name ("Example.COM." -> "example.com"): labels of
// 1..63 bytes, at most 253 characters, no backslash escapes.
absl::StatusOr<std::string> NormalizeDnsName(absl::string_view text);

}  // namespace vantage::resolver
