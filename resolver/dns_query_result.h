// DnsQueryResult: everything one measurement produced — one query sent to
// one server, and the TCP retry a truncated UDP answer triggered.
//
// Times are measured at the socket: from immediately before the send call
// to the kernel's receive timestamp of the answer (SO_TIMESTAMPNS), so the
// time excludes our own parsing and loop latency.
//
// Thread model: value types; not synchronised.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "core/ip_address.h"
#include "resolver/dns_question.h"

namespace vantage::resolver {

enum class DnsOutcome : uint8_t {
  kAnswer,   // a well-formed answer to our question arrived (any RCODE)
  kTimeout,  // nothing acceptable arrived before the timeout
  kError,    // the network said no (e.g. ICMP port unreachable) or a local error
};
const char* DnsOutcomeName(DnsOutcome outcome);

enum class DnsTransportKind : uint8_t { kUdp, kTcp };
const char* DnsTransportName(DnsTransportKind kind);

// One leg of a measurement: the UDP query, or the TCP retry.
struct DnsAttempt {
  DnsOutcome outcome = DnsOutcome::kTimeout;
  // Wall clock, immediately before the send call.
  absl::Time sent_at = absl::InfinitePast();
  // Send to answer; only meaningful for kAnswer.
  absl::Duration time = absl::ZeroDuration();
  // The receive time came from the kernel (SO_TIMESTAMPNS).
  bool kernel_timestamp = false;
  std::string error;  // for kError: what failed
};

struct DnsQueryResult {
  uint64_t seq = 0;
  Endpoint server;
  DnsQuestion question;
  uint16_t id = 0;

  DnsAttempt udp;
  // The UDP answer had the TC bit.
  bool truncated = false;
  // Set when the truncation made us retry over TCP.
  std::optional<DnsAttempt> tcp;

  // Of the final answer (TCP when its retry answered, else UDP); rcode -1
  // when no answer arrived.
  int rcode = -1;
  uint16_t answer_count = 0;
  size_t response_size = 0;
  DnsTransportKind answered_over = DnsTransportKind::kUdp;
  // EDNS NSID of the answering instance (raw bytes), when it sent one.
  std::optional<std::string> nsid;
  // TXT strings of the answer, for CHAOS hostname.bind / id.server queries.
  std::optional<std::string> chaos_txt;

  bool answered() const { return rcode >= 0; }
  // The measurement outcome: the UDP leg's (a truncated answer is an answer).
  DnsOutcome outcome() const { return udp.outcome; }
  double time_us() const { return absl::ToDoubleMicroseconds(udp.time); }
  // Which anycast instance answered: the printable NSID, else the CHAOS TXT
  // answer, else "".
  std::string Catchment() const;
};

// Answers we refused to hand to c-ares (UDP) or saw c-ares discard (TCP).
struct DnsHostileCounts {
  uint64_t wrong_id = 0;        // no query of ours in flight with that ID
  uint64_t wrong_question = 0;  // ID matches, question does not
  uint64_t garbage = 0;         // not a parsable DNS response
  uint64_t truncated = 0;       // cut off inside a record the header announced
  uint64_t oversized = 0;       // larger than the EDNS buffer size we advertised

  uint64_t total() const { return wrong_id + wrong_question + garbage + truncated + oversized; }
  friend bool operator==(const DnsHostileCounts&, const DnsHostileCounts&) = default;
};

}  // namespace vantage::resolver
