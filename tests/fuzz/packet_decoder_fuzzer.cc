// Fuzzes PacketDecoder and PassiveRtt together. The input is a sequence of
// records: [link selector][length: 2 bytes BE][time step, us][bytes...];
// each record is one captured packet (truncated to what is left). Small
// table bounds make evictions reachable.
#include <cstddef>
#include <cstdint>

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

constexpr int kLinkTypes[] = {1, 12, 101, 113, 228, 229, 276, 0};

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
  if (!rtt.ok()) __builtin_trap();
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
    packet.timestamp = now;
    packet.bytes = bytes;
    packet.wire_length = static_cast<uint32_t>(length);
    packet.link_type = link;
    (*rtt)->OnCapturedPacket(packet);
  }
  (*rtt)->Flush();
  if ((*rtt)->flow_count() > options.max_flows) __builtin_trap();
  return 0;
}
