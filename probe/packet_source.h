// PacketSource: where captured packets come from — a live libpcap handle on
// an interface (PcapLiveSource) or a pcap/pcapng file (PcapFileSource) — so
// the active prober and passive RTT code never call libpcap themselves, and
// tests replay files through the same code path.
//
// Thread model: a source is used from one thread, the probe's EventLoop
// thread; a live source is driven by registering selectable_fd() with the
// loop and calling Dispatch() when it is readable.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

struct pcap_pkthdr;

namespace vantage::probe {

// DLT_* values from libpcap (pcap/dlt.h) that Vantage decodes.
enum class LinkType : int {
  kEthernet = 1,     // DLT_EN10MB
  kRaw = 12,         // DLT_RAW (Linux: LINKTYPE_RAW is 101; pcap maps it to 12)
  kLinuxSll = 113,   // DLT_LINUX_SLL
  kIpv4 = 228,       // DLT_IPV4
  kIpv6 = 229,       // DLT_IPV6
  kLinuxSll2 = 276,  // DLT_LINUX_SLL2
};

// One captured packet. `bytes` points into the source's buffer and is valid
// only during the callback: copy what you need (headers only — never payload
// of client traffic) before returning.
struct CapturedPacket {
  int64_t time_ns = 0;              // kernel timestamp, Unix nanoseconds
  absl::Span<const uint8_t> bytes;  // the captured part (≤ snaplen)
  uint32_t wire_length = 0;         // the packet's length on the wire
  int link_type = 0;                // the source's DLT_* value

  absl::Time timestamp() const { return absl::FromUnixNanos(time_ns); }
};

struct CaptureStats {
  uint64_t received = 0;           // packets handed to callbacks
  uint64_t kernel_dropped = 0;     // pcap_stats ps_drop: no room in the buffer
  uint64_t interface_dropped = 0;  // pcap_stats ps_ifdrop
};

class PacketSource {
 public:
  using Callback = std::function<void(const CapturedPacket&)>;
  // The per-packet fast path: a plain function and its context, called
  // directly from libpcap's callback (no std::function per packet).
  using PacketFunction = void (*)(void* context, const CapturedPacket& packet);

  virtual ~PacketSource() = default;

  // A file descriptor that becomes readable when packets are waiting, for
  // the EventLoop; -1 for sources that are read to exhaustion (files).
  virtual int selectable_fd() const = 0;
  virtual int link_type() const = 0;

  // Delivers up to `max_packets` waiting packets (all, if <= 0) and returns
  // how many were delivered; 0 means nothing waiting (live) or end of file.
  virtual absl::StatusOr<int> Dispatch(int max_packets, const Callback& callback) = 0;
  // The same with `function(context, packet)` per packet. The default wraps
  // it in a Callback; libpcap sources call it straight from libpcap.
  virtual absl::StatusOr<int> DispatchTo(int max_packets, PacketFunction function, void* context) {
    return Dispatch(max_packets, [function, context](const CapturedPacket& packet) {
      function(context, packet);
    });
  }

  // libpcap's callback (pcap_handler), for the one consumer that reads
  // libpcap's packet header itself: PassiveRtt's per-packet path.
  using PcapHandler = void (*)(unsigned char* user, const pcap_pkthdr* header,
                               const unsigned char* bytes);
  // Sources backed by a libpcap handle opened at nanosecond precision
  // (tv_usec carries nanoseconds) deliver up to `max_packets` waiting
  // packets (all, if <= 0) straight from pcap_dispatch to `handler`, with
  // this source's link_type(); no CapturedPacket is built. Returns how many
  // were delivered, as DispatchTo. Other sources: Unimplemented (use
  // DispatchTo).
  virtual absl::StatusOr<int> DispatchPcap(int /*max_packets*/, PcapHandler /*handler*/,
                                           unsigned char* /*user*/) {
    return absl::UnimplementedError("not a libpcap source");
  }

  virtual CaptureStats Stats() = 0;
};

}  // namespace vantage::probe
