#include "resolver/dns_question.h"

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vantage::resolver {
namespace {

constexpr std::array<std::pair<uint16_t, absl::string_view>, 14> kTypeNames = {{
    {kTypeA, "A"},
    {kTypeNs, "NS"},
    {kTypeCname, "CNAME"},
    {kTypeSoa, "SOA"},
    {kTypePtr, "PTR"},
    {kTypeMx, "MX"},
    {kTypeTxt, "TXT"},
    {kTypeAaaa, "AAAA"},
    {kTypeSrv, "SRV"},
    {kTypeOpt, "OPT"},
    {kTypeDs, "DS"},
    {kTypeDnskey, "DNSKEY"},
    {kTypeHttps, "HTTPS"},
    {kTypeAny, "ANY"},
}};

}  // namespace

absl::StatusOr<uint16_t> ParseDnsType(absl::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(text);
  for (const auto& [type, name] : kTypeNames) {
    if (upper == name) return type;
  }
  absl::string_view digits = upper;
  if (absl::StartsWith(digits, "TYPE")) digits.remove_prefix(4);
  uint32_t value = 0;
  if (!digits.empty() && absl::SimpleAtoi(digits, &value) && value <= 0xffff) {
    return static_cast<uint16_t>(value);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown DNS type '", text, "'"));
}

std::string DnsTypeName(uint16_t type) {
  for (const auto& [t, name] : kTypeNames) {
    if (t == type) return std::string(name);
  }
  return absl::StrCat("TYPE", type);
}

std::string DnsRcodeName(int rcode) {
  switch (rcode) {
    case kRcodeNoError:
      return "NOERROR";
    case kRcodeFormErr:
      return "FORMERR";
    case kRcodeServFail:
      return "SERVFAIL";
    case kRcodeNxDomain:
      return "NXDOMAIN";
    case kRcodeNotImp:
      return "NOTIMP";
    case kRcodeRefused:
      return "REFUSED";
    case 16:
      return "BADVERS";
    default:
      return absl::StrCat("RCODE", rcode);
  }
}

absl::StatusOr<std::string> NormalizeDnsName(absl::string_view text) {
  if (text == "." || text.empty()) return std::string();
  if (absl::EndsWith(text, ".")) text.remove_suffix(1);
  if (text.size() > 253) {
    return absl::InvalidArgumentError(absl::StrCat("DNS name longer than 253 characters: ", text));
  }
  if (text.find('\\') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("escapes in DNS names are unsupported: ", text));
  }
  for (absl::string_view label : absl::StrSplit(text, '.')) {
    if (label.empty() || label.size() > 63) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad label (empty or over 63 bytes) in DNS name '", text, "'"));
    }
  }
  return absl::AsciiStrToLower(text);
}

}  // namespace vantage::resolver
