#include "probe/pcap_file_source.h"

#include <pcap/pcap.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "probe/internal/pcap_dispatch.h"

namespace vantage::probe {

absl::StatusOr<std::unique_ptr<PcapFileSource>> PcapFileSource::Open(
    const std::string& path, const std::string& bpf_filter) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (handle == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read capture ", path, ": ", errbuf));
  }
  if (!bpf_filter.empty()) {
    bpf_program program{};
    if (pcap_compile(handle, &program, bpf_filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      absl::Status status = absl::InvalidArgumentError(
          absl::StrCat("bad BPF filter \"", bpf_filter, "\": ", pcap_geterr(handle)));
      pcap_close(handle);
      return status;
    }
    int rc = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    if (rc != 0) {
      absl::Status status =
          absl::InternalError(absl::StrCat("pcap_setfilter: ", pcap_geterr(handle)));
      pcap_close(handle);
      return status;
    }
  }
  return std::unique_ptr<PcapFileSource>(
      new PcapFileSource(handle, pcap_datalink(handle), pcap_snapshot(handle), path));
}

PcapFileSource::PcapFileSource(pcap* handle, int link_type, int snaplen, std::string path)
    : handle_(handle), link_type_(link_type), snaplen_(snaplen), path_(std::move(path)) {}

PcapFileSource::~PcapFileSource() { pcap_close(handle_); }

absl::StatusOr<int> PcapFileSource::Dispatch(int max_packets, const Callback& callback) {
  return DispatchTo(max_packets, &pcap_internal::CallCallback,
                    const_cast<void*>(static_cast<const void*>(&callback)));
}

absl::StatusOr<int> PcapFileSource::DispatchPcap(int max_packets, PcapHandler handler,
                                                 unsigned char* user) {
  return pcap_internal::DispatchPcap(handle_, max_packets, handler, user, &received_,
                                     [this] { return DispatchError(); });
}

absl::StatusOr<int> PcapFileSource::DispatchTo(int max_packets, PacketFunction function,
                                               void* context) {
  pcap_internal::DispatchContext ctx{function, context, link_type_};
  int rc = pcap_dispatch(handle_, max_packets > 0 ? max_packets : -1, &pcap_internal::Trampoline,
                         reinterpret_cast<u_char*>(&ctx));
  received_ += ctx.delivered;
  if (rc == PCAP_ERROR_BREAK) return static_cast<int>(ctx.delivered);
  if (rc < 0) return DispatchError();
  return rc;
}

absl::Status PcapFileSource::DispatchError() const {
  return absl::DataLossError(
      absl::StrCat("reading ", path_, " after ", received_, " packets: ", pcap_geterr(handle_)));
}

}  // namespace vantage::probe
