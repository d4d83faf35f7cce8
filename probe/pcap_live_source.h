// PcapLiveSource: a live libpcap capture on one interface (TPACKET_V3 on
// Linux), with nanosecond kernel timestamps, a BPF filter, a bounded snaplen
// and non-blocking reads driven by the probe's EventLoop.
//
// Opening needs CAP_NET_RAW (root, or `setcap cap_net_raw+ep`); without it
// Open() fails with PermissionDenied and says so.
//
// Thread model: one thread (the EventLoop's) uses a source; not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "probe/packet_source.h"

struct pcap;

namespace vantage::probe {

struct PcapLiveOptions {
  std::string interface;  // e.g. "eth0", "lo"
  // Bytes kept per packet: enough for link + IP + TCP headers with options.
  // Never raise it to capture payload.
  int snaplen = 128;
  // Kernel ring size (pcap_set_buffer_size).
  int buffer_size_bytes = 4 << 20;
  // Deliver every packet as soon as it arrives (latency) instead of when a
  // TPACKET_V3 block fills or `block_timeout_ms` expires (throughput).
  bool immediate_mode = true;
  int block_timeout_ms = 10;
  bool promiscuous = false;
  // A BPF program in pcap-filter(7) syntax; empty captures everything.
  std::string bpf_filter;
};

class PcapLiveSource : public PacketSource {
 public:
  static absl::StatusOr<std::unique_ptr<PcapLiveSource>> Open(const PcapLiveOptions& options);
  ~PcapLiveSource() override;
  PcapLiveSource(const PcapLiveSource&) = delete;
  PcapLiveSource& operator=(const PcapLiveSource&) = delete;

  int selectable_fd() const override { return fd_; }
  int link_type() const override { return link_type_; }
  absl::StatusOr<int> Dispatch(int max_packets, const Callback& callback) override;
  absl::StatusOr<int> DispatchTo(int max_packets, PacketFunction function, void* context) override;
  absl::StatusOr<int> DispatchPcap(int max_packets, PcapHandler handler,
                                   unsigned char* user) override;
  CaptureStats Stats() override;

  // Replaces the BPF filter (e.g. when the set of measured targets changes).
  absl::Status SetFilter(const std::string& bpf_filter);
  int snaplen() const { return snaplen_; }

 private:
  // Why pcap_dispatch failed, and where (DispatchTo, DispatchPcap).
  absl::Status DispatchError() const;
  PcapLiveSource(pcap* handle, int fd, int link_type, int snaplen, std::string interface);

  pcap* handle_;
  int fd_;
  int link_type_;
  int snaplen_;
  std::string interface_;
  uint64_t received_ = 0;
};

}  // namespace vantage::probe
