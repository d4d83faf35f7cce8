#include "probe/probe_target.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "probe/stamp_packet.h"

namespace vantage::probe {
namespace {

absl::StatusOr<uint16_t> ParsePort(absl::string_view text, absl::string_view whole) {
  uint32_t port = 0;
  if (!absl::SimpleAtoi(text, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port in probe method '", whole, "': want 1..65535"));
  }
  return static_cast<uint16_t>(port);
}

}  // namespace

absl::StatusOr<ProbeMethodSpec> ProbeMethodSpec::Parse(absl::string_view text) {
  ProbeMethodSpec spec;
  if (text == "icmp") return spec;
  if (absl::StartsWith(text, "tcp:")) {
    spec.method = ProbeMethod::kTcpSyn;
    auto port = ParsePort(text.substr(4), text);
    if (!port.ok()) return port.status();
    spec.port = *port;
    return spec;
  }
  if (text == "stamp") {
    spec.method = ProbeMethod::kStamp;
    spec.port = kStampDefaultPort;
    return spec;
  }
  if (absl::StartsWith(text, "stamp:")) {
    spec.method = ProbeMethod::kStamp;
    auto port = ParsePort(text.substr(6), text);
    if (!port.ok()) return port.status();
    spec.port = *port;
    return spec;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown probe method '", text, "': want icmp, tcp:PORT, stamp or stamp:PORT"));
}

std::string ProbeMethodSpec::ToString() const {
  switch (method) {
    case ProbeMethod::kIcmpEcho:
      return "icmp";
    case ProbeMethod::kTcpSyn:
      return absl::StrCat("tcp:", port);
    case ProbeMethod::kStamp:
      return absl::StrCat("stamp:", port);
  }
  return "?";
}

const char* IcmpErrorKindName(IcmpErrorKind kind) {
  switch (kind) {
    case IcmpErrorKind::kNetUnreachable:
      return "net_unreachable";
    case IcmpErrorKind::kHostUnreachable:
      return "host_unreachable";
    case IcmpErrorKind::kProtocolUnreachable:
      return "protocol_unreachable";
    case IcmpErrorKind::kPortUnreachable:
      return "port_unreachable";
    case IcmpErrorKind::kAdminProhibited:
      return "admin_prohibited";
    case IcmpErrorKind::kOtherUnreachable:
      return "other_unreachable";
    case IcmpErrorKind::kTimeExceeded:
      return "time_exceeded";
    case IcmpErrorKind::kPacketTooBig:
      return "packet_too_big";
    case IcmpErrorKind::kParameterProblem:
      return "parameter_problem";
    case IcmpErrorKind::kCount:
      break;
  }
  return "unknown";
}

}  // namespace vantage::probe
