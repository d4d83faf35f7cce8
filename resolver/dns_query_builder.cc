#include "resolver/dns_query_builder.h"

#include "absl/strings/str_split.h"
#include "core/status_macros.h"

namespace vantage::resolver {
namespace {

void Put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildDnsQuery(const DnsQuestion& question, uint16_t id,
                                                   const DnsQueryOptions& options) {
  VANTAGE_ASSIGN_OR_RETURN(const std::string name, NormalizeDnsName(question.name));
  if (options.nsid && !options.edns) {
    return absl::InvalidArgumentError("the NSID option needs EDNS");
  }
  std::vector<uint8_t> out;
  out.reserve(12 + name.size() + 2 + 4 + 15);
  Put16(out, id);
  Put16(out, options.recursion_desired ? 0x0100 : 0x0000);
  Put16(out, 1);                     // QDCOUNT
  Put16(out, 0);                     // ANCOUNT
  Put16(out, 0);                     // NSCOUNT
  Put16(out, options.edns ? 1 : 0);  // ARCOUNT
  if (!name.empty()) {
    for (absl::string_view label : absl::StrSplit(name, '.')) {
      out.push_back(static_cast<uint8_t>(label.size()));
      out.insert(out.end(), label.begin(), label.end());
    }
  }
  out.push_back(0);
  Put16(out, question.type);
  Put16(out, question.qclass);
  if (options.edns) {
    out.push_back(0);  // root owner name
    Put16(out, kTypeOpt);
    Put16(out, options.edns_buffer_size);  // CLASS carries the UDP payload size
    Put16(out, 0);                         // TTL: extended RCODE and version 0
    Put16(out, 0);                         // TTL: DO=0, Z=0
    if (options.nsid) {
      Put16(out, 4);  // RDLENGTH
      Put16(out, kEdnsOptionNsid);
      Put16(out, 0);  // empty NSID: "please tell me"
    } else {
      Put16(out, 0);
    }
  }
  return out;
}

}  // namespace vantage::resolver
