// ReportValidator: decides whether a probe report may be stored. Everything
// in a report is untrusted: the probe may be buggy, compromised, or an
// impostor with a stolen certificate of another probe.
//
// Checks, each with its own reason (a metrics label and an ack reason):
//   identity:  the report's probe_id equals the authenticated peer (the CN of
//              its client certificate), the probe is configured, and the
//              report's PoP is that probe's PoP;
//   shape:     schema version, 16-byte report id, window bounds (end after
//              start, length within limits, not in the future beyond the
//              allowed skew, not older than retention), series counts;
//   values:    every number finite and in range, received <= sent, sketches
//              decode (QuantileSketch::Deserialize) within the size limit and
//              hold only plausible times;
//   privacy:   passive client prefixes are no longer than /24 (IPv4) or /48
//              (IPv6) — a full client address is refused, never stored.
//
// Thread model: immutable after construction; Validate may run on any thread.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/vantage.pb.h"

namespace vantage::collector {

enum class RejectReason {
  kNone = 0,
  kUnauthenticated,  // no verified client certificate
  kUnknownProbe,     // CN not in the probe registry
  kImpersonation,    // probe_id differs from the certificate's CN
  kWrongPop,         // the probe does not belong to the report's PoP
  kBadVersion,
  kBadReportId,
  kBadWindow,
  kTooManySeries,
  kOversizedSketch,
  kMalformedSketch,
  kNonFinite,
  kOutOfRange,
  kPrivacy,
  kMalformed,
};

// Stable snake_case name, used as a metrics label and in acks.
const char* RejectReasonName(RejectReason reason);

struct ValidationLimits {
  absl::Duration min_window = absl::Seconds(1);
  absl::Duration max_window = absl::Hours(1);
  absl::Duration max_clock_skew = absl::Minutes(5);
  absl::Duration retention = absl::Hours(24 * 7);
  int max_series = 200'000;
  size_t max_sketch_bytes = size_t{64} * 1024;
  // Plausible times: a one-way delay may be negative (unsynchronised clocks),
  // but nothing on Earth takes a minute.
  double max_abs_time_us = 60e6;
};

struct Verdict {
  RejectReason reason = RejectReason::kNone;
  std::string detail;
  bool ok() const { return reason == RejectReason::kNone; }
};

class ReportValidator {
 public:
  // `probe_pops`: probe id (certificate CN) -> PoP name.
  ReportValidator(absl::flat_hash_map<std::string, std::string> probe_pops,
                  ValidationLimits limits);

  // Whether a peer with this certificate CN may open a stream at all.
  Verdict CheckPeer(const std::string& peer_cn) const;
  Verdict Validate(const v1::ProbeReport& report, const std::string& peer_cn, absl::Time now) const;

  const ValidationLimits& limits() const { return limits_; }

 private:
  absl::flat_hash_map<std::string, std::string> probe_pops_;
  ValidationLimits limits_;
};

}  // namespace vantage::collector
