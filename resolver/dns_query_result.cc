#include "resolver/dns_query_result.h"

#include "resolver/dns_response.h"

namespace vantage::resolver {

const char* DnsOutcomeName(DnsOutcome outcome) {
  switch (outcome) {
    case DnsOutcome::kAnswer:
      return "answer";
    case DnsOutcome::kTimeout:
      return "timeout";
    case DnsOutcome::kError:
      return "error";
  }
  return "unknown";
}

const char* DnsTransportName(DnsTransportKind kind) {
  return kind == DnsTransportKind::kTcp ? "tcp" : "udp";
}

std::string DnsQueryResult::Catchment() const {
  if (nsid.has_value() && !nsid->empty()) return PrintableNsid(*nsid);
  if (chaos_txt.has_value()) return *chaos_txt;
  return "";
}

}  // namespace vantage::resolver
