// BuildDnsQuery: the wire form of one query, built by us rather than by
// c-ares so that we choose the ID and the EDNS OPT record (buffer size, NSID
// request) exactly, and so that one query on the wire is one measurement.
//
// Thread model: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "resolver/dns_question.h"

namespace vantage::resolver {

// EDNS option code of the Name Server Identifier (RFC 5001).
inline constexpr uint16_t kEdnsOptionNsid = 3;

struct DnsQueryOptions {
  bool recursion_desired = true;
  // Adds an OPT RR (RFC 6891) advertising `edns_buffer_size`.
  bool edns = true;
  uint16_t edns_buffer_size = 1232;
  // Adds an empty NSID option to the OPT RR (needs `edns`).
  bool nsid = true;
};

// Fails on a name that NormalizeDnsName rejects, or NSID without EDNS.
absl::StatusOr<std::vector<uint8_t>> BuildDnsQuery(const DnsQuestion& question, uint16_t id,
                                                   const DnsQueryOptions& options);

}  // namespace vantage::resolver
