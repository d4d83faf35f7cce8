#include "collector/report_validator.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/ip_address.h"
#include "core/quantile_sketch.h"

namespace vantage::collector {
namespace {

Verdict Reject(RejectReason reason, std::string detail) {
  return Verdict{reason, std::move(detail)};
}

// Checks one serialized RTT / query-time sketch.
Verdict CheckSketch(const std::string& bytes, const ValidationLimits& limits, bool may_be_empty) {
  if (bytes.empty()) {
    if (may_be_empty) return {};
    return Reject(RejectReason::kMalformedSketch, "missing sketch");
  }
  if (bytes.size() > limits.max_sketch_bytes) {
    return Reject(
        RejectReason::kOversizedSketch,
        absl::StrCat("sketch of ", bytes.size(), " bytes (limit ", limits.max_sketch_bytes, ")"));
  }
  auto sketch = QuantileSketch::Deserialize(bytes);
  if (!sketch.ok()) {
    return Reject(RejectReason::kMalformedSketch, std::string(sketch.status().message()));
  }
  if (!sketch->empty() && (std::fabs(sketch->min()) > limits.max_abs_time_us ||
                           std::fabs(sketch->max()) > limits.max_abs_time_us)) {
    return Reject(RejectReason::kOutOfRange, "sketch holds implausible times");
  }
  return {};
}

Verdict CheckTime(double us, const ValidationLimits& limits, absl::string_view what) {
  if (!std::isfinite(us))
    return Reject(RejectReason::kNonFinite, absl::StrCat(what, " not finite"));
  if (std::fabs(us) > limits.max_abs_time_us) {
    return Reject(RejectReason::kOutOfRange, absl::StrCat(what, " out of range"));
  }
  return {};
}

}  // namespace

const char* RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kNone:
      return "none";
    case RejectReason::kUnauthenticated:
      return "unauthenticated";
    case RejectReason::kUnknownProbe:
      return "unknown_probe";
    case RejectReason::kImpersonation:
      return "impersonation";
    case RejectReason::kWrongPop:
      return "wrong_pop";
    case RejectReason::kBadVersion:
      return "bad_version";
    case RejectReason::kBadReportId:
      return "bad_report_id";
    case RejectReason::kBadWindow:
      return "bad_window";
    case RejectReason::kTooManySeries:
      return "too_many_series";
    case RejectReason::kOversizedSketch:
      return "oversized_sketch";
    case RejectReason::kMalformedSketch:
      return "malformed_sketch";
    case RejectReason::kNonFinite:
      return "non_finite";
    case RejectReason::kOutOfRange:
      return "out_of_range";
    case RejectReason::kPrivacy:
      return "privacy";
    case RejectReason::kMalformed:
      return "malformed";
  }
  return "unknown";
}

ReportValidator::ReportValidator(absl::flat_hash_map<std::string, std::string> probe_pops,
                                 ValidationLimits limits)
    : probe_pops_(std::move(probe_pops)), limits_(limits) {}

Verdict ReportValidator::CheckPeer(const std::string& peer_cn) const {
  if (peer_cn.empty()) return Reject(RejectReason::kUnauthenticated, "no client certificate");
  if (!probe_pops_.contains(peer_cn)) {
    return Reject(RejectReason::kUnknownProbe,
                  absl::StrCat("probe '", peer_cn, "' is not configured"));
  }
  return {};
}

Verdict ReportValidator::Validate(const v1::ProbeReport& r, const std::string& peer_cn,
                                  absl::Time now) const {
  if (Verdict v = CheckPeer(peer_cn); !v.ok()) return v;
  if (r.probe_id() != peer_cn) {
    return Reject(
        RejectReason::kImpersonation,
        absl::StrCat("certificate '", peer_cn, "' sent a report as '", r.probe_id(), "'"));
  }
  if (const std::string& pop = probe_pops_.at(peer_cn); r.pop() != pop) {
    return Reject(RejectReason::kWrongPop, absl::StrCat("probe '", peer_cn, "' belongs to PoP '",
                                                        pop, "', not '", r.pop(), "'"));
  }
  if (r.schema_version() != 1) {
    return Reject(RejectReason::kBadVersion, absl::StrCat("schema version ", r.schema_version()));
  }
  if (r.report_id().size() != 16) {
    return Reject(RejectReason::kBadReportId, "report id must be 16 bytes");
  }
  const absl::Time start = absl::FromUnixNanos(r.window_start_unix_ns());
  const absl::Time end = absl::FromUnixNanos(r.window_end_unix_ns());
  const absl::Duration length = end - start;
  if (length < limits_.min_window || length > limits_.max_window) {
    return Reject(RejectReason::kBadWindow,
                  absl::StrCat("window length ", absl::FormatDuration(length)));
  }
  if (end > now + limits_.max_clock_skew) {
    return Reject(RejectReason::kBadWindow, "window ends in the future");
  }
  if (end < now - limits_.retention) {
    return Reject(RejectReason::kBadWindow, "window older than retention");
  }
  const int64_t series = int64_t{r.active_size()} + r.passive_size() + r.dns_size();
  if (series > limits_.max_series) {
    return Reject(RejectReason::kTooManySeries, absl::StrCat(series, " series"));
  }
  for (const auto& a : r.active()) {
    if (!IpAddress::Parse(a.target()).ok()) {
      return Reject(RejectReason::kMalformed, "active target is not an address");
    }
    if (a.method() != v1::METHOD_ICMP && a.method() != v1::METHOD_TCP_SYN &&
        a.method() != v1::METHOD_STAMP) {
      return Reject(RejectReason::kMalformed, "bad active method");
    }
    if (a.received() > a.sent()) {
      return Reject(RejectReason::kOutOfRange, "received more probes than sent");
    }
    if (Verdict v = CheckTime(a.min_rtt_us(), limits_, "min_rtt_us"); !v.ok()) return v;
    if (Verdict v = CheckSketch(a.rtt_sketch(), limits_, a.received() == 0); !v.ok()) return v;
  }
  for (const auto& p : r.passive()) {
    auto prefix = Prefix::Parse(p.client_prefix());
    if (!prefix.ok()) return Reject(RejectReason::kMalformed, "client prefix does not parse");
    if (prefix->length() > (prefix->family() == AddressFamily::kIPv4 ? 24 : 48)) {
      // Never log the address itself.
      return Reject(RejectReason::kPrivacy, "client prefix longer than /24 or /48");
    }
    if (Verdict v = CheckSketch(p.rtt_sketch(), limits_, p.samples() == 0); !v.ok()) return v;
  }
  for (const auto& d : r.dns()) {
    if (!Endpoint::Parse(d.server(), 53).ok()) {
      return Reject(RejectReason::kMalformed, "dns server is not address[:port]");
    }
    if (d.timeouts() > d.sent())
      return Reject(RejectReason::kOutOfRange, "more timeouts than queries");
    if (Verdict v = CheckSketch(d.time_sketch(), limits_, d.sent() == d.timeouts()); !v.ok()) {
      return v;
    }
  }
  return {};
}

}  // namespace vantage::collector
