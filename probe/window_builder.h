// WindowBuilder: turns one closed measurement window — the active prober's
// per-flow statistics, the passive client-prefix windows and the DNS series —
// into the wire's v1::ProbeReport (schema version 1) with a fresh 16-byte
// random report id (the collector's idempotency key).
//
// Mapping: one ActiveSeries per (target, method, flow); one PassiveSeries per
// (client prefix, passive method) with samples, from the client leg (the
// round trip through the network, not to our own host), and the prefix's
// traffic (flows, packets, bytes: the demand signal) carried once, on its
// handshake series, which is emitted whenever the prefix saw traffic; one
// DnsSeries per (server, name, type). Sketches are QuantileSketch::Serialize
// in microseconds. Client addresses never appear: the passive windows carry
// only /24 and /48 prefixes or pseudonyms.
//
// Thread model: pure functions of their inputs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "probe/active_prober.h"
#include "probe/client_prefix_aggregator.h"
#include "probe/packet_source.h"
#include "proto/vantage.pb.h"
#include "resolver/dns_aggregator.h"

namespace vantage::probe {

struct ProbeWindow {
  std::string probe_id;
  std::string pop;
  absl::Time start;
  absl::Time end;
  std::vector<FlowReport> active;
  std::vector<ClientPrefixWindow> passive;
  bool pseudonymised = false;  // passive prefixes are keyed pseudonyms
  std::vector<resolver::DnsWindowStats> dns;
  // Per capture interface: what it delivered and dropped in this window.
  std::vector<std::pair<std::string, CaptureStats>> capture;
  uint64_t spool_dropped = 0;
};

class WindowBuilder {
 public:
  // 16 bytes from the kernel's CSPRNG.
  static std::string NewReportId();
  static v1::ProbeReport Build(const ProbeWindow& window, std::string report_id);
  static v1::Method ActiveMethod(ProbeMethod method);
};

}  // namespace vantage::probe
