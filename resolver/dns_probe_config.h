// DnsProbeConfig: what the probe measures over DNS — servers, names, types,
// the schedule (interval with jitter), the query's EDNS settings and the
// aggregation window. A plain struct with strict validation; the probe's YAML
// loader fills it (another issue).
//
// Thread model: a value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "resolver/dns_prober.h"
#include "resolver/dns_question.h"

namespace vantage::resolver {

struct DnsProbeConfig {
  std::vector<Endpoint> servers;
  std::vector<std::string> names;
  std::vector<uint16_t> types = {kTypeA};
  // Each round starts `interval` plus a uniform [0, jitter) delay after the
  // previous one, so probes of many PoPs do not synchronise.
  absl::Duration interval = absl::Seconds(10);
  absl::Duration jitter = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(2);
  bool edns = true;
  uint16_t edns_buffer_size = 1232;
  bool nsid = true;
  // Also ask each server CHAOS TXT hostname.bind once per round.
  bool chaos = false;
  bool recursion_desired = true;
  bool tcp_on_truncation = true;
  absl::Duration window = absl::Seconds(60);

  // Every problem, one per line, or OK.
  [[nodiscard]] absl::Status Validate() const;
  DnsProberOptions ProberOptions() const;
};

}  // namespace vantage::resolver
