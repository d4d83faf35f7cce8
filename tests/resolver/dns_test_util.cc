#include "tests/resolver/dns_test_util.h"

#include <cstdlib>

namespace vantage::resolver::testing {
namespace {

void Put16(std::vector<uint8_t>& out, size_t v) {
  out.push_back(static_cast<uint8_t>((v >> 8) & 0xff));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

}  // namespace

size_t QueryHeaderAndQuestionLength(absl::Span<const uint8_t> query) {
  size_t pos = 12;
  while (pos < query.size() && query[pos] != 0) pos += 1 + query[pos];
  if (pos + 5 > query.size()) std::abort();
  return pos + 5;
}

std::vector<uint8_t> MakeAnswer(absl::Span<const uint8_t> query, const FakeAnswer& a) {
  const size_t qend = QueryHeaderAndQuestionLength(query);
  std::vector<uint8_t> out(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(qend));
  const size_t ancount = a.a_records.size() + (a.txt.has_value() ? 1 : 0);
  const size_t arcount = (a.opt ? 1 : 0) + (a.padding > 0 ? 1 : 0);
  out[2] = static_cast<uint8_t>(0x80 | 0x04 | (a.tc ? 0x02 : 0) | (query[2] & 0x01));
  out[3] = static_cast<uint8_t>(0x80 | (a.rcode & 0x0f));
  out[6] = 0;
  out[7] = static_cast<uint8_t>(ancount);
  out[8] = 0;
  out[9] = 0;
  out[10] = 0;
  out[11] = static_cast<uint8_t>(arcount);
  for (const auto& addr : a.a_records) {
    Put16(out, 0xc00c);
    Put16(out, 1);
    Put16(out, 1);
    Put16(out, 0);
    Put16(out, 300);
    Put16(out, 4);
    out.insert(out.end(), addr.begin(), addr.end());
  }
  if (a.txt.has_value()) {
    Put16(out, 0xc00c);
    Put16(out, 16);
    Put16(out, (query[qend - 2] << 8) | query[qend - 1]);  // the question's class
    Put16(out, 0);
    Put16(out, 0);
    size_t len = 0;
    for (const auto& s : *a.txt) len += 1 + s.size();
    Put16(out, len);
    for (const auto& s : *a.txt) {
      out.push_back(static_cast<uint8_t>(s.size()));
      out.insert(out.end(), s.begin(), s.end());
    }
  }
  if (a.padding > 0) {
    out.push_back(0);
    Put16(out, 65280);  // a private-use type
    Put16(out, 1);
    Put16(out, 0);
    Put16(out, 0);
    Put16(out, a.padding);
    out.insert(out.end(), a.padding, 0xab);
  }
  if (a.opt) {
    out.push_back(0);
    Put16(out, 41);
    Put16(out, 1232);
    out.push_back(a.extended_rcode);
    out.push_back(0);
    Put16(out, 0);
    if (a.nsid.has_value()) {
      Put16(out, 4 + a.nsid->size());
      Put16(out, 3);
      Put16(out, a.nsid->size());
      out.insert(out.end(), a.nsid->begin(), a.nsid->end());
    } else {
      Put16(out, 0);
    }
  }
  return out;
}

}  // namespace vantage::resolver::testing
