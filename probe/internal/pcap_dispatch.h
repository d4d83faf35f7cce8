// Shared glue between libpcap's C callback and PacketSource::Callback, used
// by PcapLiveSource and PcapFileSource only.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>

#include "probe/packet_source.h"

namespace vantage::probe::pcap_internal {

struct DispatchContext {
  PacketSource::PacketFunction function;
  void* context;
  int link_type;
  uint64_t delivered = 0;
};

// A header's time in Unix nanoseconds. The handle must have been opened
// with PCAP_TSTAMP_PRECISION_NANO, so tv_usec carries nanoseconds.
inline int64_t TimeNs(const pcap_pkthdr& header) {
  return static_cast<int64_t>(header.ts.tv_sec) * 1000000000 +
         static_cast<int64_t>(header.ts.tv_usec);
}

inline void Trampoline(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* ctx = reinterpret_cast<DispatchContext*>(user);
  CapturedPacket packet;
  packet.time_ns = TimeNs(*header);
  packet.bytes = absl::Span<const uint8_t>(bytes, header->caplen);
  packet.wire_length = header->len;
  packet.link_type = ctx->link_type;
  ++ctx->delivered;
  ctx->function(ctx->context, packet);
}

// PacketSource::Dispatch's std::function, called through DispatchTo.
inline void CallCallback(void* callback, const CapturedPacket& packet) {
  (*static_cast<const PacketSource::Callback*>(callback))(packet);
}

}  // namespace vantage::probe::pcap_internal
