// PcapFileSource: packets from a pcap or pcapng file, with timestamps read at
// nanosecond precision (microsecond files are scaled), through the same
// PacketSource interface as a live capture so tests and offline analysis
// (`vantagectl pcap-rtt`) run the live code path.
//
// Thread model: one thread uses a source; not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "probe/packet_source.h"

struct pcap;

namespace vantage::probe {

class PcapFileSource : public PacketSource {
 public:
  // `bpf_filter` may be empty. Fails with NotFound / InvalidArgument naming
  // the file when it can't be opened or isn't a capture.
  static absl::StatusOr<std::unique_ptr<PcapFileSource>> Open(const std::string& path,
                                                              const std::string& bpf_filter = "");
  ~PcapFileSource() override;
  PcapFileSource(const PcapFileSource&) = delete;
  PcapFileSource& operator=(const PcapFileSource&) = delete;

  int selectable_fd() const override { return -1; }
  int link_type() const override { return link_type_; }
  // Returns 0 at end of file.
  absl::StatusOr<int> Dispatch(int max_packets, const Callback& callback) override;
  absl::StatusOr<int> DispatchTo(int max_packets, PacketFunction function, void* context) override;
  absl::StatusOr<int> DispatchPcap(int max_packets, PcapHandler handler,
                                   unsigned char* user) override;
  // Only `received` is meaningful for a file.
  CaptureStats Stats() override { return CaptureStats{.received = received_}; }
  // The snapshot length recorded in the file.
  int snaplen() const { return snaplen_; }

 private:
  // Why pcap_dispatch failed, and where (DispatchTo, DispatchPcap).
  absl::Status DispatchError() const;
  PcapFileSource(pcap* handle, int link_type, int snaplen, std::string path);

  pcap* handle_;
  int link_type_;
  int snaplen_;
  std::string path_;
  uint64_t received_ = 0;
};

}  // namespace vantage::probe
