#include "resolver/dns_response.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "resolver/dns_query_builder.h"

namespace vantage::resolver {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr int kMaxPointerHops = 64;
constexpr size_t kMaxNameLength = 255;

// A bounds-checked cursor over the message.
class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  absl::Status Need(size_t n, absl::string_view what) const {
    if (remaining() < n) {
      return absl::OutOfRangeError(absl::StrCat("message ends inside ", what, " at offset ", pos_));
    }
    return absl::OkStatus();
  }
  uint8_t U8() { return bytes_[pos_++]; }
  uint16_t U16() {
    const uint16_t v = static_cast<uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t U32() {
    const uint32_t hi = U16();
    return (hi << 16) | U16();
  }
  void Skip(size_t n) { pos_ += n; }

  // Reads a (possibly compressed) name; appends its lower-cased presentation
  // form to `out` when `out` is not null.
  absl::Status Name(std::string* out) {
    size_t cursor = pos_;
    bool jumped = false;
    int hops = 0;
    size_t length = 0;
    while (true) {
      if (cursor >= bytes_.size()) {
        if (jumped) return absl::InvalidArgumentError("compression pointer past the end");
        pos_ = cursor;
        return Need(1, "a name");
      }
      const uint8_t len = bytes_[cursor];
      if ((len & 0xc0) == 0xc0) {
        if (cursor + 1 >= bytes_.size()) {
          if (jumped) return absl::InvalidArgumentError("compression pointer past the end");
          pos_ = cursor;
          return Need(2, "a compression pointer");
        }
        const size_t target = static_cast<size_t>(((len & 0x3f) << 8) | bytes_[cursor + 1]);
        if (!jumped) pos_ = cursor + 2;
        // Pointers must point backwards (strictly before the pointer), which
        // together with the hop bound rules out loops.
        if (target >= cursor || ++hops > kMaxPointerHops) {
          return absl::InvalidArgumentError("bad compression pointer");
        }
        jumped = true;
        cursor = target;
        continue;
      }
      if ((len & 0xc0) != 0) return absl::InvalidArgumentError("reserved label type");
      if (len == 0) {
        if (!jumped) pos_ = cursor + 1;
        return absl::OkStatus();
      }
      if (cursor + 1 + len > bytes_.size()) {
        if (jumped) return absl::InvalidArgumentError("label past the end");
        pos_ = cursor;
        return Need(1 + static_cast<size_t>(len), "a label");
      }
      length += len + 1;
      if (length > kMaxNameLength) return absl::InvalidArgumentError("name longer than 255 bytes");
      if (out != nullptr) {
        if (!out->empty()) out->push_back('.');
        for (size_t i = 0; i < len; ++i) {
          out->push_back(absl::ascii_tolower(static_cast<unsigned char>(bytes_[cursor + 1 + i])));
        }
      }
      cursor += 1 + len;
    }
  }

  absl::Span<const uint8_t> Slice(size_t n) {
    auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  absl::Span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

absl::Status ParseOpt(absl::Span<const uint8_t> rdata, DnsResponse& r) {
  Reader opt(rdata);
  while (opt.remaining() > 0) {
    if (opt.remaining() < 4) return absl::InvalidArgumentError("OPT option header cut short");
    const uint16_t code = opt.U16();
    const uint16_t len = opt.U16();
    if (opt.remaining() < len) return absl::InvalidArgumentError("OPT option longer than its RR");
    auto data = opt.Slice(len);
    if (code == kEdnsOptionNsid) {
      if (r.nsid.has_value()) return absl::InvalidArgumentError("two NSID options");
      r.nsid.emplace(reinterpret_cast<const char*>(data.data()), data.size());
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTxt(absl::Span<const uint8_t> rdata, std::string& out) {
  size_t i = 0;
  while (i < rdata.size()) {
    const size_t len = rdata[i];
    if (i + 1 + len > rdata.size()) return absl::InvalidArgumentError("TXT string past its RR");
    out.append(reinterpret_cast<const char*>(rdata.data() + i + 1), len);
    i += 1 + len;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DnsResponse> ParseDnsResponse(absl::Span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", bytes.size(), " bytes is shorter than a header"));
  }
  DnsResponse r;
  r.size = bytes.size();
  Reader in(bytes);
  r.id = in.U16();
  const uint16_t flags = in.U16();
  r.qr = (flags & 0x8000) != 0;
  r.opcode = static_cast<uint8_t>((flags >> 11) & 0xf);
  r.aa = (flags & 0x0400) != 0;
  r.tc = (flags & 0x0200) != 0;
  r.rd = (flags & 0x0100) != 0;
  r.ra = (flags & 0x0080) != 0;
  r.rcode = flags & 0xf;
  r.qdcount = in.U16();
  r.ancount = in.U16();
  r.nscount = in.U16();
  r.arcount = in.U16();
  if (!r.qr) return absl::InvalidArgumentError("QR bit clear: not a response");
  if (r.qdcount > 1) return absl::InvalidArgumentError("more than one question");

  for (uint16_t i = 0; i < r.qdcount; ++i) {
    DnsQuestion q;
    if (auto st = in.Name(&q.name); !st.ok()) return st;
    if (auto st = in.Need(4, "a question"); !st.ok()) return st;
    q.type = in.U16();
    q.qclass = in.U16();
    r.question = std::move(q);
  }

  const uint32_t records = uint32_t{r.ancount} + r.nscount + r.arcount;
  for (uint32_t i = 0; i < records; ++i) {
    const bool answer_section = i < r.ancount;
    const bool additional_section = i >= uint32_t{r.ancount} + r.nscount;
    std::string owner;
    const bool want_owner = answer_section && r.question.has_value() && !r.txt.has_value();
    if (auto st = in.Name(want_owner ? &owner : nullptr); !st.ok()) return st;
    if (auto st = in.Need(10, "a record header"); !st.ok()) return st;
    const uint16_t type = in.U16();
    const uint16_t rclass = in.U16();
    const uint32_t ttl = in.U32();
    const uint16_t rdlength = in.U16();
    if (auto st = in.Need(rdlength, "record data"); !st.ok()) return st;
    auto rdata = in.Slice(rdlength);
    if (type == kTypeOpt) {
      if (!additional_section) return absl::InvalidArgumentError("OPT RR outside additional");
      if (r.has_opt) return absl::InvalidArgumentError("more than one OPT RR");
      r.has_opt = true;
      r.edns_udp_size = rclass;
      r.edns_version = static_cast<uint8_t>((ttl >> 16) & 0xff);
      r.rcode |= static_cast<int>((ttl >> 24) & 0xff) << 4;
      if (auto st = ParseOpt(rdata, r); !st.ok()) return st;
    } else if (want_owner && type == kTypeTxt && owner == r.question->name) {
      std::string txt;
      if (auto st = ParseTxt(rdata, txt); !st.ok()) return st;
      r.txt = std::move(txt);
    }
  }
  // Trailing bytes after the last announced record are tolerated (some
  // middleboxes pad), but they are not parsed.
  return r;
}

std::string PrintableNsid(const std::string& raw) {
  bool printable = !raw.empty();
  for (char c : raw) {
    if (!absl::ascii_isprint(static_cast<unsigned char>(c))) printable = false;
  }
  if (printable) return raw;
  return absl::StrCat("0x", absl::BytesToHexString(raw));
}

}  // namespace vantage::resolver
