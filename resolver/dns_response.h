// DnsResponse and ParseDnsResponse: our own reading of an answer's bytes,
// which arrive from the network and are untrusted. We parse what c-ares 1.18
// does not give us (the OPT RR and its NSID option, CHAOS TXT strings, the
// extended RCODE) and check every section's bounds, so a hostile or broken
// answer is classified instead of half-read.
//
// Errors: InvalidArgument for garbage (too short for a header, not a
// response, a bad name, compression loops, more than one OPT RR, bad option
// framing) and OutOfRange for a message that ends inside a record the header
// announced (a cut-off answer). Nothing is read outside `bytes`; no pointer
// into `bytes` is kept.
//
// Thread model: pure function; the result is a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "resolver/dns_question.h"

namespace vantage::resolver {

struct DnsResponse {
  uint16_t id = 0;
  bool qr = false;
  uint8_t opcode = 0;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  // The full RCODE: the header's 4 bits plus the OPT RR's 8 extended bits.
  int rcode = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  uint16_t nscount = 0;
  uint16_t arcount = 0;
  // The first question; set when qdcount >= 1.
  std::optional<DnsQuestion> question;
  bool has_opt = false;
  uint16_t edns_udp_size = 0;
  uint8_t edns_version = 0;
  // The NSID option's payload, raw (may be binary); unset without the option.
  std::optional<std::string> nsid;
  // Character strings of the first TXT record in the answer section whose
  // owner is the question's name (a CHAOS hostname.bind / id.server reply),
  // joined.
  std::optional<std::string> txt;
  size_t size = 0;
};

absl::StatusOr<DnsResponse> ParseDnsResponse(absl::Span<const uint8_t> bytes);

// NSID bytes for people and JSON: printable ASCII as is, otherwise hex.
std::string PrintableNsid(const std::string& raw);

}  // namespace vantage::resolver
