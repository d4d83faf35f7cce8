// The vocabulary of active probing: which method a target is probed with,
// and the kinds of ICMP errors that can come back for a probe.
//
// Thread model: value types and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ip_address.h"

namespace vantage::probe {

enum class ProbeMethod : uint8_t { kIcmpEcho = 0, kTcpSyn = 1, kStamp = 2 };

// A method and its destination port (0 for ICMP).
struct ProbeMethodSpec {
  ProbeMethod method = ProbeMethod::kIcmpEcho;
  uint16_t port = 0;

  // "icmp", "tcp:PORT", "stamp" (UDP 862) or "stamp:PORT".
  static absl::StatusOr<ProbeMethodSpec> Parse(absl::string_view text);
  // The same spelling Parse accepts.
  std::string ToString() const;
  friend bool operator==(const ProbeMethodSpec&, const ProbeMethodSpec&) = default;
};

struct ProbeTarget {
  IpAddress address;
  ProbeMethodSpec spec;

  friend bool operator==(const ProbeTarget&, const ProbeTarget&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ProbeTarget& t) {
    return H::combine(std::move(h), t.address, static_cast<uint8_t>(t.spec.method), t.spec.port);
  }
};

// Why a probe failed, from the ICMP/ICMPv6 error that quoted it.
enum class IcmpErrorKind : uint8_t {
  kNetUnreachable = 0,
  kHostUnreachable,  // IPv6: address unreachable
  kProtocolUnreachable,
  kPortUnreachable,
  kAdminProhibited,
  kOtherUnreachable,
  kTimeExceeded,
  kPacketTooBig,  // IPv4: fragmentation needed
  kParameterProblem,
  kCount,
};
inline constexpr int kIcmpErrorKinds = static_cast<int>(IcmpErrorKind::kCount);

// snake_case names for reports: "port_unreachable", "time_exceeded", ...
const char* IcmpErrorKindName(IcmpErrorKind kind);

}  // namespace vantage::probe
