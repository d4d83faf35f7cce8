// DNS answers arrive from the network: ParseDnsResponse (header, question,
// OPT/NSID, CHAOS TXT) and the TCP stream framer see untrusted bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "resolver/dns_response.h"
#include "resolver/dns_stream_framer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::Span<const uint8_t> bytes(data, size);
  auto r = vantage::resolver::ParseDnsResponse(bytes);
  if (r.ok()) {
    // Whatever is accepted is consistent with the input.
    if (r->size != size || size < 12 || !r->qr) std::abort();
    if (r->question.has_value() && r->question->name.size() > 255) std::abort();
    if (r->nsid.has_value()) {
      if (r->nsid->size() > size) std::abort();
      if (vantage::resolver::PrintableNsid(*r->nsid).empty() && !r->nsid->empty()) std::abort();
    }
    if (r->txt.has_value() && r->txt->size() > size) std::abort();
    if (r->rcode < 0 || r->rcode > 0xfff) std::abort();
  } else if (!absl::IsInvalidArgument(r.status()) && !absl::IsOutOfRange(r.status())) {
    std::abort();  // only the two documented classes
  }
  // The same bytes as a TCP stream, fed in two arbitrary parts.
  vantage::resolver::DnsStreamFramer framer;
  size_t total = 0;
  const auto count = [&](absl::Span<const uint8_t> m) { total += 2 + m.size(); };
  const size_t split = size > 0 ? data[0] % (size + 1) : 0;
  framer.Feed(bytes.subspan(0, split), count);
  framer.Feed(bytes.subspan(split), count);
  if (total + framer.buffered() != size) std::abort();
  return 0;
}
