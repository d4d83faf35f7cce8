#include "probe/window_builder.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>

#include "resolver/dns_question.h"

namespace vantage::probe {
namespace {

v1::Method PassiveMethod(RttMethod method) {
  switch (method) {
    case RttMethod::kHandshake:
      return v1::METHOD_PASSIVE_HANDSHAKE;
    case RttMethod::kTimestamp:
      return v1::METHOD_PASSIVE_TS_ECHO;
    case RttMethod::kSeqAck:
      return v1::METHOD_PASSIVE_SEQ_ACK;
  }
  return v1::METHOD_UNSPECIFIED;
}

void AddActive(const FlowReport& f, v1::ProbeReport& r) {
  v1::ActiveSeries* a = r.add_active();
  a->set_target(f.target.address.ToString());
  a->set_method(WindowBuilder::ActiveMethod(f.target.spec.method));
  a->set_port(f.target.spec.port);
  a->set_flow(f.flow);
  // `sent` on the wire is the number of probes resolved in the window
  // (answered or lost), so that received <= sent and loss = 1 -
  // received/sent holds per window. The prober counts sends by send time but
  // outcomes by resolution time: near a window boundary the replies of the
  // previous window's probes arrive in this one, and send-time counts made
  // received > sent, which the collector rightly rejects (whole windows lost).
  a->set_sent(f.received + f.lost);
  a->set_received(f.received);
  a->set_duplicates(f.duplicates);
  a->set_late(f.late);
  for (int k = 0; k < kIcmpErrorKinds; ++k) {
    const uint64_t n = f.errors[static_cast<size_t>(k)];
    if (n != 0) (*a->mutable_errors())[IcmpErrorKindName(static_cast<IcmpErrorKind>(k))] = n;
  }
  a->set_rtt_sketch(f.rtt_us.Serialize());
  if (f.min_rtt) a->set_min_rtt_us(absl::ToDoubleMicroseconds(*f.min_rtt));
}

void AddPassive(const ClientPrefixWindow& w, bool pseudonymised, v1::ProbeReport& r) {
  const bool traffic = w.flows != 0 || w.packets != 0 || w.bytes != 0;
  for (int m = 0; m < kRttMethodCount; ++m) {
    const auto method = static_cast<RttMethod>(m);
    const QuantileSketch& sketch = w.Rtt(method, RttLeg::kClient);
    const bool carries_traffic = method == RttMethod::kHandshake && traffic;
    if (sketch.empty() && !carries_traffic) continue;
    v1::PassiveSeries* p = r.add_passive();
    p->set_client_prefix(w.client_prefix.ToString());
    p->set_method(PassiveMethod(method));
    p->set_samples(sketch.count());
    p->set_rtt_sketch(sketch.Serialize());
    if (carries_traffic) {
      p->set_flows(w.flows);
      p->set_packets(w.packets);
      p->set_bytes(w.bytes);
    }
    p->set_pseudonymised(pseudonymised);
  }
}

void AddDns(const resolver::DnsWindowStats& s, v1::ProbeReport& r) {
  v1::DnsSeries* d = r.add_dns();
  d->set_server(s.key.server.ToString());
  d->set_qname(s.key.qname);
  d->set_qtype(resolver::DnsTypeName(s.key.qtype));
  d->set_sent(s.sent);
  d->set_timeouts(s.timeouts);
  d->set_truncated(s.truncated);
  d->set_time_sketch(s.time_us.Serialize());
  for (const auto& [rcode, n] : s.rcodes)
    (*d->mutable_rcodes())[resolver::DnsRcodeName(rcode)] += n;
  for (const auto& [catchment, n] : s.catchments) (*d->mutable_catchments())[catchment] += n;
  d->set_catchment_flips(static_cast<uint32_t>(s.flips.size()));
}

}  // namespace

std::string WindowBuilder::NewReportId() {
  std::string id(16, '\0');
  size_t filled = 0;
  while (filled < id.size()) {
    const ssize_t n = getrandom(id.data() + filled, id.size() - filled, 0);
    // getrandom on a 16-byte request only fails before the pool is ready
    // (it blocks then) or on EINTR; anything else is a broken kernel.
    if (n < 0) {
      if (errno == EINTR) continue;
      std::abort();
    }
    filled += static_cast<size_t>(n);
  }
  return id;
}

v1::Method WindowBuilder::ActiveMethod(ProbeMethod method) {
  switch (method) {
    case ProbeMethod::kIcmpEcho:
      return v1::METHOD_ICMP;
    case ProbeMethod::kTcpSyn:
      return v1::METHOD_TCP_SYN;
    case ProbeMethod::kStamp:
      return v1::METHOD_STAMP;
  }
  return v1::METHOD_UNSPECIFIED;
}

v1::ProbeReport WindowBuilder::Build(const ProbeWindow& window, std::string report_id) {
  v1::ProbeReport r;
  r.set_schema_version(1);
  r.set_report_id(std::move(report_id));
  r.set_probe_id(window.probe_id);
  r.set_pop(window.pop);
  r.set_window_start_unix_ns(absl::ToUnixNanos(window.start));
  r.set_window_end_unix_ns(absl::ToUnixNanos(window.end));
  for (const FlowReport& f : window.active) AddActive(f, r);
  for (const ClientPrefixWindow& w : window.passive) AddPassive(w, window.pseudonymised, r);
  for (const resolver::DnsWindowStats& s : window.dns) AddDns(s, r);
  for (const auto& [name, stats] : window.capture) {
    v1::CaptureCounters* c = r.add_capture();
    c->set_interface(name);
    c->set_received(stats.received);
    c->set_kernel_dropped(stats.kernel_dropped);
    c->set_interface_dropped(stats.interface_dropped);
  }
  r.set_spool_dropped(window.spool_dropped);
  return r;
}

}  // namespace vantage::probe
