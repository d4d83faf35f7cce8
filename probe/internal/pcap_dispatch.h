// Shared glue between libpcap's C callback and PacketSource::Callback, used
// by PcapLiveSource and PcapFileSource only.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>

#include "absl/time/time.h"
#include "probe/packet_source.h"

namespace vantage::probe::pcap_internal {

struct DispatchContext {
  const PacketSource::Callback* callback;
  int link_type;
  uint64_t delivered = 0;
};

// The handle must have been opened with PCAP_TSTAMP_PRECISION_NANO, so
// tv_usec carries nanoseconds.
inline void Trampoline(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* ctx = reinterpret_cast<DispatchContext*>(user);
  CapturedPacket packet;
  packet.timestamp = absl::FromUnixNanos(static_cast<int64_t>(header->ts.tv_sec) * 1000000000 +
                                         static_cast<int64_t>(header->ts.tv_usec));
  packet.bytes = absl::Span<const uint8_t>(bytes, header->caplen);
  packet.wire_length = header->len;
  packet.link_type = ctx->link_type;
  ++ctx->delivered;
  (*ctx->callback)(packet);
}

}  // namespace vantage::probe::pcap_internal
