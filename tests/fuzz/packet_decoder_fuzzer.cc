// Fuzzes PacketDecoder and PassiveRtt together. The input is a sequence of
// records: [link selector][length: 2 bytes BE][time step, us][bytes...];
// each record is one captured packet (truncated to what is left). Small
// table bounds make evictions reachable. Checks, besides "no crash": the
// decoder's fast paths (Decode's, DecodeTcpSegment and
// DecodeEthernetTimestampedTcp, the last two at several wire lengths) give
// exactly what the general path gives, DecodeEthernetTimestampedTcp takes
// every packet of its layout that DecodeTcpSegment takes, and a batching
// sink receives exactly the samples PassiveRtt counted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "probe/packet_decoder.h"
#include "probe/passive_rtt.h"

namespace {

class NullSink : public vantage::probe::PassiveRttSink {
 public:
  void OnSample(const vantage::probe::RttSample& s) override {
    if (s.rtt < absl::ZeroDuration()) __builtin_trap();
  }
  void OnFlow(absl::Time, const vantage::Prefix&) override {}
  void OnTraffic(absl::Time, const vantage::Prefix&, uint64_t, uint64_t) override {}
};

class BatchingSink : public NullSink {
 public:
  bool batches_samples() const override { return true; }
  void OnSampleBatch(const vantage::Prefix&,
                     absl::Span<const vantage::probe::FlowRttSample> samples) override {
    if (samples.empty() || samples.size() > vantage::probe::PassiveRtt::kSampleBatch) {
      __builtin_trap();
    }
    for (const auto& s : samples) {
      if (s.rtt_ns() < 0 || s.rtt_ns() > s.kMaxRttNs) __builtin_trap();
    }
    received += samples.size();
  }
  uint64_t received = 0;
};

bool SameDecode(const vantage::probe::DecodedPacket& a, const vantage::probe::DecodedPacket& b) {
  const auto& t = a.tcp;
  const auto& u = b.tcp;
  return a.src == b.src && a.dst == b.dst && a.ip_version == b.ip_version &&
         a.protocol == b.protocol && a.ttl == b.ttl && a.vlan_count == b.vlan_count &&
         a.vlan_ids == b.vlan_ids && a.more_fragments == b.more_fragments &&
         a.l3_offset == b.l3_offset && a.l4_offset == b.l4_offset &&
         a.payload_offset == b.payload_offset && a.payload_length == b.payload_length &&
         a.ip_length == b.ip_length && a.src_port == b.src_port && a.dst_port == b.dst_port &&
         t.seq == u.seq && t.ack == u.ack && t.window == u.window && t.flags == u.flags &&
         t.header_length == u.header_length && t.has_mss == u.has_mss &&
         t.has_timestamps == u.has_timestamps && t.has_window_scale == u.has_window_scale &&
         t.sack_permitted == u.sack_permitted && t.mss == u.mss &&
         t.window_scale == u.window_scale && t.tsval == u.tsval && t.tsecr == u.tsecr &&
         a.udp.length == b.udp.length && a.icmp.type == b.icmp.type && a.icmp.code == b.icmp.code &&
         a.icmp.has_echo_fields == b.icmp.has_echo_fields && a.icmp.id == b.icmp.id &&
         a.icmp.sequence == b.icmp.sequence && a.icmp.is_error == b.icmp.is_error &&
         a.icmp.quoted_offset == b.icmp.quoted_offset;
}

constexpr int kLinkTypes[] = {1, 12, 101, 113, 228, 229, 276, 0};

// An Ethernet packet at wire length `wire` (`general`: its general decode at
// that length, `status` its outcome): DecodeTcpSegment gives the general
// decode's fields when it takes the packet; DecodeEthernetTimestampedTcp
// gives DecodeTcpSegment's when it takes it, and takes every packet of its
// layout that DecodeTcpSegment takes.
void CheckEthernetSegment(absl::Span<const uint8_t> bytes, uint32_t wire,
                          vantage::probe::DecodeStatus status,
                          const vantage::probe::DecodedPacket& general) {
  using vantage::probe::PacketDecoder;
  vantage::probe::TimestampedTcpSegment t;
  vantage::probe::TcpSegmentFields f;
  const bool any = PacketDecoder::DecodeTcpSegment(vantage::probe::kDltEn10mb, bytes, wire, &f);
  if (any && (status != vantage::probe::DecodeStatus::kOk ||
              general.protocol != vantage::probe::kIpProtoTcp ||
              !(f == vantage::probe::TcpSegmentFields::From(general)))) {
    __builtin_trap();
  }
  const bool common =
      PacketDecoder::DecodeEthernetTimestampedTcp(bytes.data(), bytes.size(), wire, &t);
  if (common &&
      (!any || f.src[0] != t.src() || f.src[1] != 0 || f.dst[0] != t.dst() || f.dst[1] != 0 ||
       f.family != 4 || f.src_port != t.src_port() || f.dst_port != t.dst_port() ||
       f.seq != t.seq() || f.ack != t.ack() || f.flags != t.flags || !f.has_timestamps ||
       f.tsval != t.tsval() || f.tsecr != t.tsecr() || f.ip_length != t.ip_length ||
       f.payload_length != t.payload_length())) {
    __builtin_trap();
  }
  static constexpr uint8_t kNopNopTimestamps[] = {1, 1, 8, 10};
  const bool layout = any && general.vlan_count == 0 && general.l4_offset == 14 + 20 &&
                      general.tcp.header_length == 32 &&
                      std::memcmp(bytes.data() + 14 + 20 + 20, kNopNopTimestamps, 4) == 0;
  if (layout && !common) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using vantage::probe::DecodedPacket;
  using vantage::probe::DecodeStatus;
  using vantage::probe::PacketDecoder;
  NullSink sink;
  vantage::probe::PassiveRttOptions options;
  options.max_flows = 4;
  options.max_pending_per_direction = 3;
  options.flow_idle_timeout = absl::Milliseconds(50);
  options.tsval_max_age = absl::Milliseconds(20);
  options.sweep_interval = absl::Milliseconds(5);
  auto rtt = vantage::probe::PassiveRtt::Create(options, &sink);
  BatchingSink batching_sink;
  auto batched = vantage::probe::PassiveRtt::Create(options, &batching_sink);
  if (!rtt.ok() || !batched.ok()) __builtin_trap();
  absl::Time now = absl::FromUnixSeconds(1700000000);
  size_t i = 0;
  while (i + 4 <= size) {
    const int link = kLinkTypes[data[i] % (sizeof(kLinkTypes) / sizeof(kLinkTypes[0]))];
    size_t length = (static_cast<size_t>(data[i + 1]) << 8) | data[i + 2];
    now += absl::Microseconds(data[i + 3]);
    i += 4;
    if (length > size - i) length = size - i;
    const absl::Span<const uint8_t> bytes(data + i, length);
    i += length;

    DecodedPacket decoded;
    const DecodeStatus status = PacketDecoder::Decode(link, bytes, &decoded);
    DecodedPacket general;
    if (PacketDecoder::DecodeGeneral(link, bytes, &general) != status ||
        (status == DecodeStatus::kOk && !SameDecode(decoded, general))) {
      __builtin_trap();
    }
    // PassiveRtt's segment fast path agrees with the general decode.
    vantage::probe::TcpSegmentFields segment;
    if (PacketDecoder::DecodeTcpSegment(link, bytes, 0, &segment) &&
        (status != DecodeStatus::kOk || general.protocol != vantage::probe::kIpProtoTcp ||
         !(segment == vantage::probe::TcpSegmentFields::From(general)))) {
      __builtin_trap();
    }
    if (link == vantage::probe::kDltEn10mb) {
      // As captured; shorter on the wire than captured (then ignored); and
      // longer on the wire (snaplen-truncated: the IP length may exceed
      // what was captured).
      const uint32_t step = data[i - length - 1];
      const auto captured = static_cast<uint32_t>(length);
      CheckEthernetSegment(bytes, 0, status, general);
      CheckEthernetSegment(bytes, captured - std::min(step, captured), status, general);
      const uint32_t longer = captured + 8 * step;
      DecodedPacket long_general;
      CheckEthernetSegment(bytes, longer,
                           PacketDecoder::DecodeGeneral(link, bytes, &long_general, longer),
                           long_general);
    }
    if (status == DecodeStatus::kOk) {
      // Offsets stay inside the packet as captured or declared.
      if (decoded.l4_offset > bytes.size() || decoded.l3_offset > decoded.l4_offset) {
        __builtin_trap();
      }
      if (decoded.icmp.is_error) {
        DecodedPacket inner;
        (void)PacketDecoder::DecodeQuoted(bytes, decoded.icmp.quoted_offset, &inner);
      }
    }
    vantage::probe::CapturedPacket packet;
    packet.time_ns = absl::ToUnixNanos(now);
    packet.bytes = bytes;
    packet.wire_length = static_cast<uint32_t>(length);
    packet.link_type = link;
    (*rtt)->OnCapturedPacket(packet);
    (*batched)->OnCapturedPacket(packet);
  }
  (*rtt)->Flush();
  (*batched)->Flush();
  if ((*rtt)->flow_count() > options.max_flows) __builtin_trap();
  // Batching changes when samples are delivered, never which.
  const auto& a = (*rtt)->stats().samples;
  const auto& b = (*batched)->stats().samples;
  if (a != b || batching_sink.received != b[0] + b[1] + b[2]) __builtin_trap();
  return 0;
}
