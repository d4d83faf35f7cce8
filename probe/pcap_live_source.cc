#include "probe/pcap_live_source.h"

#include <pcap/pcap.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "probe/internal/pcap_dispatch.h"

namespace vantage::probe {
namespace {

absl::Status ActivateError(pcap_t* handle, int rc, const std::string& interface) {
  std::string detail = pcap_geterr(handle);
  switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
      return absl::PermissionDeniedError(
          absl::StrCat("capturing on ", interface,
                       " needs CAP_NET_RAW (run as root or `setcap cap_net_raw+ep` on the "
                       "binary): ",
                       detail));
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return absl::NotFoundError(absl::StrCat("no such interface: ", interface, ": ", detail));
    case PCAP_ERROR_IFACE_NOT_UP:
      return absl::FailedPreconditionError(absl::StrCat("interface ", interface, " is down"));
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return absl::PermissionDeniedError(
          absl::StrCat("promiscuous mode on ", interface, " not permitted: ", detail));
    default:
      return absl::InternalError(
          absl::StrCat("pcap_activate(", interface, "): ", pcap_statustostr(rc), ": ", detail));
  }
}

absl::Status CompileAndSet(pcap_t* handle, const std::string& filter, const std::string& where) {
  bpf_program program{};
  if (pcap_compile(handle, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad BPF filter \"", filter, "\" on ", where, ": ", pcap_geterr(handle)));
  }
  int rc = pcap_setfilter(handle, &program);
  pcap_freecode(&program);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("pcap_setfilter on ", where, ": ", pcap_geterr(handle)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PcapLiveSource>> PcapLiveSource::Open(
    const PcapLiveOptions& options) {
  if (options.interface.empty()) return absl::InvalidArgumentError("no capture interface given");
  if (options.snaplen < 64 || options.snaplen > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("snaplen ", options.snaplen, " outside [64, 65535]"));
  }
  if (options.buffer_size_bytes <= 0) return absl::InvalidArgumentError("buffer size must be > 0");
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_create(options.interface.c_str(), errbuf);
  if (handle == nullptr) {
    return absl::InternalError(absl::StrCat("pcap_create(", options.interface, "): ", errbuf));
  }
  auto fail = [handle](absl::Status status) {
    pcap_close(handle);
    return status;
  };
  if (pcap_set_snaplen(handle, options.snaplen) != 0 ||
      pcap_set_promisc(handle, options.promiscuous ? 1 : 0) != 0 ||
      pcap_set_buffer_size(handle, options.buffer_size_bytes) != 0 ||
      pcap_set_timeout(handle, options.block_timeout_ms) != 0 ||
      pcap_set_immediate_mode(handle, options.immediate_mode ? 1 : 0) != 0) {
    return fail(absl::InternalError(absl::StrCat("configuring pcap on ", options.interface)));
  }
  if (pcap_set_tstamp_precision(handle, PCAP_TSTAMP_PRECISION_NANO) != 0) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("nanosecond timestamps unsupported on ", options.interface)));
  }
  int rc = pcap_activate(handle);
  if (rc < 0) return fail(ActivateError(handle, rc, options.interface));
  if (!options.bpf_filter.empty()) {
    absl::Status status = CompileAndSet(handle, options.bpf_filter, options.interface);
    if (!status.ok()) return fail(status);
  }
  if (pcap_setnonblock(handle, 1, errbuf) != 0) {
    return fail(absl::InternalError(absl::StrCat("pcap_setnonblock: ", errbuf)));
  }
  int fd = pcap_get_selectable_fd(handle);
  if (fd < 0) {
    return fail(
        absl::FailedPreconditionError(absl::StrCat("no selectable fd for ", options.interface)));
  }
  return std::unique_ptr<PcapLiveSource>(new PcapLiveSource(
      handle, fd, pcap_datalink(handle), pcap_snapshot(handle), options.interface));
}

PcapLiveSource::PcapLiveSource(pcap* handle, int fd, int link_type, int snaplen,
                               std::string interface)
    : handle_(handle),
      fd_(fd),
      link_type_(link_type),
      snaplen_(snaplen),
      interface_(std::move(interface)) {}

PcapLiveSource::~PcapLiveSource() { pcap_close(handle_); }

absl::StatusOr<int> PcapLiveSource::Dispatch(int max_packets, const Callback& callback) {
  return DispatchTo(max_packets, &pcap_internal::CallCallback,
                    const_cast<void*>(static_cast<const void*>(&callback)));
}

absl::StatusOr<int> PcapLiveSource::DispatchPcap(int max_packets, PcapHandler handler,
                                                 unsigned char* user) {
  return pcap_internal::DispatchPcap(handle_, max_packets, handler, user, &received_,
                                     [this] { return DispatchError(); });
}

absl::StatusOr<int> PcapLiveSource::DispatchTo(int max_packets, PacketFunction function,
                                               void* context) {
  pcap_internal::DispatchContext ctx{function, context, link_type_};
  int rc = pcap_dispatch(handle_, max_packets > 0 ? max_packets : -1, &pcap_internal::Trampoline,
                         reinterpret_cast<u_char*>(&ctx));
  received_ += ctx.delivered;
  if (rc == PCAP_ERROR_BREAK) return static_cast<int>(ctx.delivered);
  if (rc < 0) return DispatchError();
  return rc;
}

absl::Status PcapLiveSource::DispatchError() const {
  return absl::InternalError(
      absl::StrCat("pcap_dispatch on ", interface_, ": ", pcap_geterr(handle_)));
}

CaptureStats PcapLiveSource::Stats() {
  CaptureStats stats{.received = received_};
  pcap_stat ps{};
  if (pcap_stats(handle_, &ps) == 0) {
    stats.kernel_dropped = ps.ps_drop;
    stats.interface_dropped = ps.ps_ifdrop;
  }
  return stats;
}

absl::Status PcapLiveSource::SetFilter(const std::string& bpf_filter) {
  return CompileAndSet(handle_, bpf_filter, interface_);
}

}  // namespace vantage::probe
