// Shared glue between libpcap's C callback and PacketSource::Callback, used
// by PcapLiveSource and PcapFileSource only.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// PacketSource::DispatchPcap over a libpcap handle: up to `max_packets`
// (<= 0: all buffered) straight into `handler`, counted into `*received`;
// Cancelled after pcap_breakloop (how many the handler saw is its own
// business), `error()` (an absl::Status) when pcap_dispatch fails.
template <typename ErrorFunction>
absl::StatusOr<int> DispatchPcap(pcap_t* handle, int max_packets, PacketSource::PcapHandler handler,
                                 u_char* user, uint64_t* received, ErrorFunction error) {
  const int rc = pcap_dispatch(handle, max_packets > 0 ? max_packets : -1, handler, user);
  if (rc == PCAP_ERROR_BREAK) return absl::CancelledError("pcap_breakloop during DispatchPcap");
  if (rc < 0) return error();
  *received += static_cast<uint64_t>(rc);
  return rc;
}

// PacketSource::Dispatch's std::function, called through DispatchTo.
inline void CallCallback(void* callback, const CapturedPacket& packet) {
  (*static_cast<const PacketSource::Callback*>(callback))(packet);
}

}  // namespace vantage::probe::pcap_internal
