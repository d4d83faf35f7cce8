#include "probe/probe_codec.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "probe/internal/big_endian.h"
#include "probe/internet_checksum.h"

namespace vantage::probe {
namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmpV6 = 58;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;

constexpr uint8_t kMagic0 = 'V';
constexpr uint8_t kMagic1 = 't';

MacInput& AddAddress(MacInput& in, const IpAddress& a) {
  return in.Bytes(a.bytes(), a.byte_length());
}

// RFC 792 / RFC 4443 (type, code) -> kind, first match wins; code -1 = any.
struct ErrorCode {
  uint8_t type;
  int16_t code;
  IcmpErrorKind kind;
};
using K = IcmpErrorKind;
constexpr ErrorCode kErrorsV4[] = {
    {11, -1, K::kTimeExceeded},      {12, -1, K::kParameterProblem}, {3, 0, K::kNetUnreachable},
    {3, 6, K::kNetUnreachable},      {3, 1, K::kHostUnreachable},    {3, 7, K::kHostUnreachable},
    {3, 2, K::kProtocolUnreachable}, {3, 3, K::kPortUnreachable},    {3, 4, K::kPacketTooBig},
    {3, 9, K::kAdminProhibited},     {3, 10, K::kAdminProhibited},   {3, 13, K::kAdminProhibited},
    {3, -1, K::kOtherUnreachable},
};
constexpr ErrorCode kErrorsV6[] = {
    {2, -1, K::kPacketTooBig},     {3, -1, K::kTimeExceeded},   {4, -1, K::kParameterProblem},
    {1, 0, K::kNetUnreachable},    {1, 1, K::kAdminProhibited}, {1, 5, K::kAdminProhibited},
    {1, 6, K::kAdminProhibited},   {1, 3, K::kHostUnreachable}, {1, 4, K::kPortUnreachable},
    {1, -1, K::kOtherUnreachable},
};

// kCount when not an error we track.
IcmpErrorKind ErrorKind(bool v6, uint8_t type, uint8_t code) {
  for (const ErrorCode& e : v6 ? absl::MakeConstSpan(kErrorsV6) : absl::MakeConstSpan(kErrorsV4)) {
    if (e.type == type && (e.code < 0 || e.code == code)) return e.kind;
  }
  return IcmpErrorKind::kCount;
}

PacketClassification Verdict(PacketVerdict v) {
  PacketClassification c;
  c.verdict = v;
  return c;
}

// A request, reply or ICMP error naming one probe.
PacketClassification Matched(PacketVerdict v, uint32_t target, uint8_t flow, uint16_t seq16,
                             uint8_t port_slot = 0) {
  PacketClassification c;
  c.verdict = v;
  c.target = target;
  c.flow = flow;
  c.seq16 = seq16;
  c.port_slot = port_slot;
  c.seq_known = true;
  return c;
}

}  // namespace

ProbeCodec::ProbeCodec(ProbeSecret secret, int flows, uint16_t tcp_base_port,
                       std::vector<uint16_t> stamp_ports)
    : secret_(secret),
      flows_(flows < 1 ? 1 : (flows > kMaxFlowsPerTarget ? kMaxFlowsPerTarget : flows)),
      tcp_base_port_(tcp_base_port),
      stamp_ports_(std::move(stamp_ports)) {}

void ProbeCodec::ReserveTargets(size_t count) {
  targets_.reserve(targets_.size() + count);
  icmp_id_base_.reserve(icmp_id_base_.size() + count);
  index_.reserve(index_.size() + count);
}

size_t ProbeCodec::AllocatedBytes() const {
  using Slot = decltype(index_)::value_type;
  // A SwissTable holds capacity slots and capacity + 16 control bytes.
  const size_t index_bytes =
      index_.capacity() == 0 ? 0 : index_.capacity() * (sizeof(Slot) + 1) + 16;
  return stamp_ports_.capacity() * sizeof(uint16_t) + targets_.capacity() * sizeof(ProbeTarget) +
         icmp_id_base_.capacity() * sizeof(uint16_t) + index_bytes;
}

absl::StatusOr<uint32_t> ProbeCodec::AddTarget(const ProbeTarget& target) {
  if (index_.contains(target)) {
    return absl::AlreadyExistsError(absl::StrCat("target ", target.address.ToString(), " ",
                                                 target.spec.ToString(), " added twice"));
  }
  if (target.spec.method == ProbeMethod::kStamp &&
      stamp_ports_.size() < static_cast<size_t>(flows_)) {
    return absl::FailedPreconditionError("STAMP target without a UDP socket per flow");
  }
  const auto index = static_cast<uint32_t>(targets_.size());
  targets_.push_back(target);
  icmp_id_base_.push_back(IcmpIdBase(target.address));
  index_.emplace(target, index);
  return index;
}

uint16_t ProbeCodec::IcmpIdBase(const IpAddress& address) const {
  MacInput in;
  in.U8('I');
  AddAddress(in, address);
  return static_cast<uint16_t>(secret_.Mac(in.span()));
}

uint16_t ProbeCodec::IcmpId(uint32_t target, uint8_t flow) const {
  return static_cast<uint16_t>(icmp_id_base_[target] + flow);
}

uint16_t ProbeCodec::SourcePort(uint32_t target, uint8_t flow, uint8_t port_slot) const {
  switch (targets_[target].spec.method) {
    case ProbeMethod::kTcpSyn:
      return static_cast<uint16_t>(tcp_base_port_ + flow * kTcpPortsPerFlow +
                                   port_slot % kTcpPortsPerFlow);
    case ProbeMethod::kStamp:
      return stamp_ports_[flow];
    case ProbeMethod::kIcmpEcho:
      break;
  }
  return 0;
}

uint64_t ProbeCodec::IcmpMac(const IpAddress& address, uint16_t id, uint32_t seq,
                             uint8_t flow) const {
  MacInput in;
  in.U8('E');
  AddAddress(in, address).U16(id).U32(seq).U8(flow);
  return secret_.Mac(in.span());
}

uint16_t ProbeCodec::PortMac(const IpAddress& address, uint16_t sport, uint16_t dport,
                             uint32_t seq) const {
  MacInput in;
  in.U8('P');
  AddAddress(in, address).U16(sport).U16(dport).U32(seq);
  return static_cast<uint16_t>(secret_.Mac(in.span()));
}

std::optional<uint32_t> ProbeCodec::FindTarget(const IpAddress& address, ProbeMethod method,
                                               uint16_t port) const {
  const auto it = index_.find(ProbeTarget{address, ProbeMethodSpec{method, port}});
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint8_t> ProbeCodec::StampFlow(uint16_t local_port) const {
  for (size_t f = 0; f < stamp_ports_.size() && f < static_cast<size_t>(flows_); ++f) {
    if (stamp_ports_[f] == local_port) return static_cast<uint8_t>(f);
  }
  return std::nullopt;
}

std::optional<ProbeCodec::LocalPort> ProbeCodec::TcpFlow(uint16_t local_port) const {
  const int offset = static_cast<int>(local_port) - static_cast<int>(tcp_base_port_);
  if (offset < 0 || offset >= flows_ * kTcpPortsPerFlow) return std::nullopt;
  return LocalPort{static_cast<uint8_t>(offset / kTcpPortsPerFlow),
                   static_cast<uint8_t>(offset % kTcpPortsPerFlow)};
}

std::optional<ProbeCodec::EchoMatch> ProbeCodec::MatchEcho(const IpAddress& remote,
                                                           absl::Span<const uint8_t> l4) const {
  const auto target = FindTarget(remote, ProbeMethod::kIcmpEcho, 0);
  if (!target) return std::nullopt;
  const uint16_t id = Get16(&l4[4]);
  const auto flow = static_cast<uint16_t>(id - icmp_id_base_[*target]);
  // Another ping on this host uses other ids; only ours can be forged.
  if (flow >= flows_) return std::nullopt;
  return EchoMatch{*target, static_cast<uint8_t>(flow), id, Get16(&l4[6])};
}

bool ProbeCodec::EchoPayloadValid(const IpAddress& remote, const EchoMatch& m,
                                  absl::Span<const uint8_t> payload) const {
  if (payload.size() < kIcmpProbePayloadSize || payload[0] != kMagic0 || payload[1] != kMagic1 ||
      payload[2] != m.flow) {
    return false;
  }
  const uint32_t seq = Get32(&payload[4]);
  return static_cast<uint16_t>(seq) == m.seq16 &&
         Get64(&payload[8]) == IcmpMac(remote, m.id, seq, m.flow);
}

std::optional<uint16_t> ProbeCodec::IsnSeq16(const IpAddress& remote, uint16_t local_port,
                                             uint16_t remote_port, uint32_t isn) const {
  const auto seq16 = static_cast<uint16_t>(isn >> 16);
  if (static_cast<uint16_t>(isn) != PortMac(remote, local_port, remote_port, seq16)) {
    return std::nullopt;
  }
  return seq16;
}

bool ProbeCodec::StampTagValid(const IpAddress& remote, uint16_t local_port, uint16_t remote_port,
                               uint32_t sequence, uint64_t timestamp) const {
  return static_cast<uint16_t>(timestamp) == PortMac(remote, local_port, remote_port, sequence);
}

void ProbeCodec::BuildProbe(uint32_t target, uint8_t flow, uint32_t seq, const IpAddress& source,
                            absl::Time now, uint16_t error_estimate, ProbePacket* out,
                            uint8_t port_slot) const {
  const ProbeTarget& t = targets_[target];
  uint8_t* b = out->bytes.data();
  std::memset(b, 0, out->bytes.size());
  const auto seq16 = static_cast<uint16_t>(seq);
  switch (t.spec.method) {
    case ProbeMethod::kIcmpEcho: {
      const bool v6 = t.address.is_v6();
      const uint16_t id = IcmpId(target, flow);
      out->protocol = v6 ? kProtoIcmpV6 : kProtoIcmp;
      out->source_port = 0;
      out->destination_port = 0;
      out->length = 8 + kIcmpProbePayloadSize;
      b[0] = v6 ? 128 : 8;
      Put16(b + 4, id);
      Put16(b + 6, seq16);
      uint8_t* p = b + 8;
      p[0] = kMagic0;
      p[1] = kMagic1;
      p[2] = flow;
      Put32(p + 4, seq);
      Put64(p + 8, IcmpMac(t.address, id, seq, flow));
      // Compensator: the variable words (seq field and payload) sum to 0xffff,
      // so the checksum stays the same for every probe of the flow.
      InternetChecksum variable;
      variable.Add16(seq16);
      variable.Add(absl::MakeConstSpan(p, kIcmpProbePayloadSize - 2));
      Put16(p + kIcmpProbePayloadSize - 2, static_cast<uint16_t>(~variable.Sum()));
      if (!v6) {  // the kernel fills the ICMPv6 checksum (pseudo-header)
        InternetChecksum sum;
        sum.Add(out->span());
        Put16(b + 2, sum.Checksum());
      }
      return;
    }
    case ProbeMethod::kTcpSyn: {
      uint8_t mss[4] = {2, 4, 0, 0};  // the MSS option
      Put16(mss + 2, t.address.is_v6() ? 1440 : 1460);
      BuildTcp(target, flow, seq16, source, port_slot, kTcpSyn, 0, 64240, mss, out);
      return;
    }
    case ProbeMethod::kStamp: {
      const uint16_t sport = SourcePort(target, flow);
      out->protocol = kProtoUdp;
      out->source_port = sport;
      out->destination_port = t.spec.port;
      out->length = kStampPacketSize;
      StampSenderPacket packet;
      packet.sequence = seq;
      packet.timestamp =
          (ToNtpTimestamp(now) & ~uint64_t{0xffff}) | PortMac(t.address, sport, t.spec.port, seq);
      packet.error_estimate = error_estimate;
      packet.Encode(absl::MakeSpan(b, kStampPacketSize));
      return;
    }
  }
}

void ProbeCodec::BuildTcpReset(uint32_t target, uint8_t flow, uint16_t seq16,
                               const IpAddress& source, ProbePacket* out, uint8_t port_slot) const {
  std::memset(out->bytes.data(), 0, out->bytes.size());
  BuildTcp(target, flow, seq16, source, port_slot, kTcpRst, 1, 0, {}, out);
}

void ProbeCodec::BuildTcp(uint32_t target, uint8_t flow, uint16_t seq16, const IpAddress& source,
                          uint8_t port_slot, uint8_t flags, uint32_t seq_offset, uint16_t window,
                          absl::Span<const uint8_t> options, ProbePacket* out) const {
  const ProbeTarget& t = targets_[target];
  uint8_t* b = out->bytes.data();
  const uint16_t sport = SourcePort(target, flow, port_slot);
  const uint32_t isn =
      static_cast<uint32_t>(seq16) << 16 | PortMac(t.address, sport, t.spec.port, seq16);
  out->protocol = kProtoTcp;
  out->source_port = sport;
  out->destination_port = t.spec.port;
  out->length = 20 + options.size();
  Put16(b, sport);
  Put16(b + 2, t.spec.port);
  Put32(b + 4, isn + seq_offset);
  b[12] = static_cast<uint8_t>(out->length / 4 << 4);  // data offset in 32-bit words
  b[13] = flags;
  Put16(b + 14, window);
  if (!options.empty()) std::memcpy(b + 20, options.data(), options.size());
  InternetChecksum sum;
  sum.AddPseudoHeader(source, t.address, kProtoTcp, static_cast<uint32_t>(out->length));
  sum.Add(out->span());
  Put16(b + 16, sum.Checksum());
}

PacketClassification ProbeCodec::Classify(const IpPacketView& packet) const {
  switch (packet.protocol) {
    case kProtoIcmp:
    case kProtoIcmpV6:
      return ClassifyIcmp(packet);
    case kProtoTcp:
      return ClassifyTcp(packet);
    case kProtoUdp:
      return ClassifyUdp(packet);
    default:
      return Verdict(PacketVerdict::kUnrelated);
  }
}

PacketClassification ProbeCodec::ClassifyIcmp(const IpPacketView& packet) const {
  const auto l4 = packet.l4;
  if (l4.size() < 8) return Verdict(PacketVerdict::kUnrelated);
  const bool v6 = packet.protocol == kProtoIcmpV6;
  // ICMP must travel in the matching IP version.
  if (v6 != packet.source.is_v6()) return Verdict(PacketVerdict::kUnrelated);
  const uint8_t type = l4[0];
  const uint8_t code = l4[1];
  const uint8_t echo_request = v6 ? 128 : 8;
  const uint8_t echo_reply = v6 ? 129 : 0;
  if (type == echo_request || type == echo_reply) {
    if (code != 0) return Verdict(PacketVerdict::kUnrelated);
    const bool request = type == echo_request;
    const IpAddress& remote = request ? packet.destination : packet.source;
    const auto m = MatchEcho(remote, l4);
    if (!m) return Verdict(PacketVerdict::kUnrelated);
    if (!EchoPayloadValid(remote, *m, l4.subspan(8))) {
      return Verdict(request ? PacketVerdict::kUnrelated : PacketVerdict::kForged);
    }
    return Matched(request ? PacketVerdict::kRequest : PacketVerdict::kReply, m->target, m->flow,
                   m->seq16);
  }
  const IcmpErrorKind kind = ErrorKind(v6, type, code);
  if (kind == IcmpErrorKind::kCount) return Verdict(PacketVerdict::kUnrelated);
  const auto inner = ParseIpPacket(l4.subspan(8));
  if (!inner || inner->source.family() != packet.source.family()) {
    return Verdict(PacketVerdict::kUnrelated);
  }
  return ClassifyQuoted(*inner, kind);
}

PacketClassification ProbeCodec::ClassifyQuoted(const IpPacketView& inner,
                                                IcmpErrorKind kind) const {
  const auto l4 = inner.l4;
  if (l4.size() < 8) return Verdict(PacketVerdict::kUnrelated);
  const IpAddress& remote = inner.destination;
  PacketClassification c;
  switch (inner.protocol) {
    case kProtoIcmp:
    case kProtoIcmpV6: {
      const bool v6 = inner.protocol == kProtoIcmpV6;
      if (v6 != remote.is_v6() || l4[0] != (v6 ? 128 : 8)) {
        return Verdict(PacketVerdict::kUnrelated);
      }
      const auto m = MatchEcho(remote, l4);
      if (!m) return Verdict(PacketVerdict::kUnrelated);
      // Routers may quote only 8 bytes of L4; when the payload is there it
      // must verify.
      const auto payload = l4.subspan(8);
      if (payload.size() >= kIcmpProbePayloadSize && !EchoPayloadValid(remote, *m, payload)) {
        return Verdict(PacketVerdict::kForged);
      }
      c = Matched(PacketVerdict::kIcmpError, m->target, m->flow, m->seq16);
      break;
    }
    case kProtoTcp: {
      const uint16_t sport = Get16(&l4[0]);
      const uint16_t dport = Get16(&l4[2]);
      const auto local = TcpFlow(sport);
      const auto target = FindTarget(remote, ProbeMethod::kTcpSyn, dport);
      if (!local || !target) return Verdict(PacketVerdict::kUnrelated);
      const auto seq16 = IsnSeq16(remote, sport, dport, Get32(&l4[4]));
      if (!seq16) return Verdict(PacketVerdict::kForged);
      c = Matched(PacketVerdict::kIcmpError, *target, local->flow, *seq16, local->slot);
      break;
    }
    case kProtoUdp: {
      const uint16_t sport = Get16(&l4[0]);
      const uint16_t dport = Get16(&l4[2]);
      const auto flow = StampFlow(sport);
      const auto target = FindTarget(remote, ProbeMethod::kStamp, dport);
      if (!flow || !target) return Verdict(PacketVerdict::kUnrelated);
      const auto sender = StampSenderPacket::Decode(l4.subspan(8));
      if (!sender) {  // quoted too short: the flow is known, the probe not
        c.verdict = PacketVerdict::kIcmpError;
        c.target = *target;
        c.flow = *flow;
        break;
      }
      if (!StampTagValid(remote, sport, dport, sender->sequence, sender->timestamp)) {
        return Verdict(PacketVerdict::kForged);
      }
      c = Matched(PacketVerdict::kIcmpError, *target, *flow,
                  static_cast<uint16_t>(sender->sequence));
      break;
    }
    default:
      return Verdict(PacketVerdict::kUnrelated);
  }
  c.error = kind;
  return c;
}

PacketClassification ProbeCodec::ClassifyTcp(const IpPacketView& packet) const {
  const auto l4 = packet.l4;
  if (l4.size() < 20) return Verdict(PacketVerdict::kUnrelated);
  const uint16_t sport = Get16(&l4[0]);
  const uint16_t dport = Get16(&l4[2]);
  const uint8_t flags = l4[13];
  if ((flags & (kTcpSyn | kTcpAck | kTcpRst | kTcpFin)) == kTcpSyn) {
    // Possibly our SYN leaving.
    const auto local = TcpFlow(sport);
    const auto target = FindTarget(packet.destination, ProbeMethod::kTcpSyn, dport);
    if (!local || !target) return Verdict(PacketVerdict::kUnrelated);
    const auto seq16 = IsnSeq16(packet.destination, sport, dport, Get32(&l4[4]));
    if (!seq16) return Verdict(PacketVerdict::kUnrelated);
    return Matched(PacketVerdict::kRequest, *target, local->flow, *seq16, local->slot);
  }
  const auto local = TcpFlow(dport);
  const auto target = FindTarget(packet.source, ProbeMethod::kTcpSyn, sport);
  if (!local || !target) return Verdict(PacketVerdict::kUnrelated);
  const bool syn_ack = (flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck);
  const bool rst_ack = (flags & (kTcpRst | kTcpAck)) == (kTcpRst | kTcpAck);
  if (!syn_ack && !rst_ack) return Verdict(PacketVerdict::kUnrelated);
  const auto seq16 = IsnSeq16(packet.source, dport, sport, Get32(&l4[8]) - 1);
  if (!seq16) return Verdict(PacketVerdict::kForged);
  PacketClassification c =
      Matched(PacketVerdict::kReply, *target, local->flow, *seq16, local->slot);
  c.tcp_syn_ack = syn_ack && (flags & kTcpRst) == 0;
  return c;
}

PacketClassification ProbeCodec::ClassifyUdp(const IpPacketView& packet) const {
  const auto l4 = packet.l4;
  if (l4.size() < 8) return Verdict(PacketVerdict::kUnrelated);
  const uint16_t sport = Get16(&l4[0]);
  const uint16_t dport = Get16(&l4[2]);
  const size_t udp_length = Get16(&l4[4]);
  if (udp_length < 8) return Verdict(PacketVerdict::kUnrelated);
  auto payload = l4.subspan(8, std::min(l4.size(), udp_length) - 8);
  // Our probe leaving?
  if (const auto flow = StampFlow(sport)) {
    if (const auto target = FindTarget(packet.destination, ProbeMethod::kStamp, dport)) {
      const auto sender = StampSenderPacket::Decode(payload);
      if (!sender ||
          !StampTagValid(packet.destination, sport, dport, sender->sequence, sender->timestamp)) {
        return Verdict(PacketVerdict::kUnrelated);
      }
      return Matched(PacketVerdict::kRequest, *target, *flow,
                     static_cast<uint16_t>(sender->sequence));
    }
  }
  const auto flow = StampFlow(dport);
  const auto target = FindTarget(packet.source, ProbeMethod::kStamp, sport);
  if (!flow || !target) return Verdict(PacketVerdict::kUnrelated);
  const auto reflected = StampReflectorPacket::Decode(payload);
  if (!reflected || !StampTagValid(packet.source, dport, sport, reflected->sender_sequence,
                                   reflected->sender_timestamp)) {
    return Verdict(PacketVerdict::kForged);
  }
  PacketClassification c = Matched(PacketVerdict::kReply, *target, *flow,
                                   static_cast<uint16_t>(reflected->sender_sequence));
  c.stamp = reflected;
  return c;
}

}  // namespace vantage::probe
