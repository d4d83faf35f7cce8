#include "probe/ping_session.h"

#include <ifaddrs.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "core/status_macros.h"
#include "probe/pcap_live_source.h"
#include "probe/raw_socket_probe_sender.h"

namespace vantage::probe {

absl::StatusOr<std::string> InterfaceForAddress(const IpAddress& address) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return absl::InternalError("getifaddrs failed");
  std::optional<std::string> name;
  for (ifaddrs* i = list; i != nullptr && !name; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    auto endpoint = Endpoint::FromSockaddr(i->ifa_addr);
    if (endpoint.ok() && endpoint->address() == address) name = i->ifa_name;
  }
  freeifaddrs(list);
  if (!name) {
    return absl::NotFoundError(absl::StrCat("no interface holds ", address.ToString()));
  }
  return *name;
}

namespace {

absl::Duration ThreadCpu() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return absl::Seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         absl::Microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

}  // namespace

ActiveProber::Options PingSession::ProberOptions(const PingOptions& options) {
  ActiveProber::Options po;
  po.flows = options.flows;
  po.burst = options.burst;
  po.interval = options.interval;
  po.timeout = options.timeout;
  po.rounds = options.count;
  po.max_pps = options.max_pps;
  po.sketch_alpha = options.sketch_alpha;
  po.sketch_max_bins = options.sketch_max_bins;
  po.bucket_burst = std::max(1.0, std::min(1000.0, options.max_pps / 100));
  po.local_clock_synchronized = options.clock_synchronized;
  // A full timeout more after the loss decision (see ProberOptions).
  po.memory = 2 * options.timeout + po.capture_grace;
  if (options.timer_coalescing) {  // a fixed period
    po.timer_coalescing = *options.timer_coalescing;
    po.coalesce_probes = 0;
  }
  return po;
}

absl::StatusOr<PingResult> PingSession::Run(const PingOptions& options) {
  if (options.targets.empty()) return absl::InvalidArgumentError("no targets");
  if (options.count < 1) return absl::InvalidArgumentError("count must be >= 1");
  const Clock& clock = RealClock::Get();
  VANTAGE_ASSIGN_OR_RETURN(auto loop, EventLoop::Create());
  VANTAGE_ASSIGN_OR_RETURN(auto sender, RawSocketProbeSender::Create());
  VANTAGE_ASSIGN_OR_RETURN(auto secret, ProbeSecret::Generate());
  const ActiveProber::Options po = ProberOptions(options);
  VANTAGE_ASSIGN_OR_RETURN(auto prober,
                           ActiveProber::Create(po, loop.get(), &clock, sender.get(), secret));

  std::vector<std::string> interfaces;
  std::vector<IpAddress> sources_seen;  // one interface lookup per source address
  if (options.interface) interfaces.push_back(*options.interface);
  prober->ReserveTargets(options.targets.size());
  for (const ProbeTarget& target : options.targets) {
    VANTAGE_ASSIGN_OR_RETURN(const uint32_t index, prober->AddTarget(target));
    if (options.interface) continue;
    const IpAddress& source = prober->SourceAddress(index);
    if (std::find(sources_seen.begin(), sources_seen.end(), source) != sources_seen.end()) continue;
    sources_seen.push_back(source);
    VANTAGE_ASSIGN_OR_RETURN(std::string name, InterfaceForAddress(source));
    if (std::find(interfaces.begin(), interfaces.end(), name) == interfaces.end()) {
      interfaces.push_back(std::move(name));
    }
  }
  std::vector<std::unique_ptr<PcapLiveSource>> sources;
  for (const std::string& name : interfaces) {
    PcapLiveOptions co;
    co.interface = name;
    co.buffer_size_bytes = options.capture_buffer_bytes;
    co.immediate_mode = options.capture_immediate;
    co.block_timeout_ms = 1;
    co.bpf_filter = prober->CaptureFilter();
    VANTAGE_ASSIGN_OR_RETURN(auto source, PcapLiveSource::Open(co));
    VANTAGE_RETURN_IF_ERROR(prober->AddSource(source.get(), IpPacketFromCapture));
    sources.push_back(std::move(source));
  }

  if (options.on_start) options.on_start(*prober);
  const absl::Time start = clock.MonotonicNow();
  // Bounded: all rounds, the timeout, and generous slack for rate limiting.
  const double probes = static_cast<double>(options.targets.size()) * options.count * options.burst;
  const absl::Time deadline = start + options.interval * (options.count + 1) + options.timeout +
                              absl::Seconds(5 + probes / options.max_pps * 2);
  const absl::Duration cpu_start = ThreadCpu();
  VANTAGE_RETURN_IF_ERROR(prober->Start());
  while (!prober->Finished() && clock.MonotonicNow() < deadline) {
    loop->RunOnce(absl::Milliseconds(50));
  }
  prober->DrainCaptures();
  const bool finished = prober->Finished();
  PingResult result;
  result.probing_cpu = ThreadCpu() - cpu_start;
  result.memory = prober->Memory();
  result.bytes_per_target = prober->BytesPerTarget();
  result.elapsed = clock.MonotonicNow() - start;
  result.send_span = prober->send_span();
  prober->Stop();
  if (!finished) return absl::DeadlineExceededError("ping did not finish in time");

  result.interfaces = interfaces;
  result.counters = prober->counters();
  for (auto& source : sources) {
    const CaptureStats s = source->Stats();
    result.capture.received += s.received;
    result.capture.kernel_dropped += s.kernel_dropped;
    result.capture.interface_dropped += s.interface_dropped;
  }
  result.targets.resize(options.targets.size());
  for (size_t i = 0; i < options.targets.size(); ++i) {
    result.targets[i].target = options.targets[i];
    result.targets[i].merged.target = options.targets[i];
    result.targets[i].merged.target_index = static_cast<uint32_t>(i);
  }
  std::vector<bool> seen(options.targets.size(), false);
  for (FlowReport& r : prober->TakeWindow(true)) {
    FlowReport& m = result.targets[r.target_index].merged;
    if (!seen[r.target_index]) {
      seen[r.target_index] = true;
      m.rtt_us = r.rtt_us;  // the prober's sketch parameters
      m.reflector_us = r.reflector_us;
      m.forward_us = r.forward_us;
      m.backward_us = r.backward_us;
    } else {
      (void)m.rtt_us.Merge(r.rtt_us);
      (void)m.reflector_us.Merge(r.reflector_us);
      (void)m.forward_us.Merge(r.forward_us);
      (void)m.backward_us.Merge(r.backward_us);
    }
    m.sent += r.sent;
    m.received += r.received;
    m.lost += r.lost;
    m.duplicates += r.duplicates;
    m.late += r.late;
    m.no_request_timestamp += r.no_request_timestamp;
    for (size_t k = 0; k < r.errors.size(); ++k) m.errors[k] += r.errors[k];
    if (r.min_rtt && (!m.min_rtt || *r.min_rtt < *m.min_rtt)) m.min_rtt = r.min_rtt;
  }
  return result;
}

}  // namespace vantage::probe
