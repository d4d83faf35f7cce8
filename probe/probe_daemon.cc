#include "probe/probe_daemon.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"
#include "probe/ip_packet_view.h"
#include "probe/ping_session.h"
#include "probe/privilege_dropper.h"
#include "probe/probe_secret.h"
#include "spdlog/spdlog.h"

namespace vantage::probe {
namespace {

// Adds a retiring (or the live) prober's counters to a running total.
void AddProberCounters(const ProberCounters& c, ProberCounters* total) {
  total->captured += c.captured;
  total->undecodable += c.undecodable;
  total->unrelated += c.unrelated;
  total->forged += c.forged;
  total->stale += c.stale;
  total->send_errors += c.send_errors;
  total->rate_limited += c.rate_limited;
  total->unattributed_errors += c.unattributed_errors;
  total->evicted += c.evicted;
  total->tcp_ports_exhausted += c.tcp_ports_exhausted;
}

constexpr absl::Duration kMinWindow = absl::Seconds(1);  // the collector's minimum
constexpr absl::Duration kShutdownGrace = absl::Seconds(5);
constexpr absl::Duration kPublishInterval = absl::Seconds(1);

const char* MethodLabel(ProbeMethod method) {
  switch (method) {
    case ProbeMethod::kIcmpEcho:
      return "icmp";
    case ProbeMethod::kTcpSyn:
      return "tcp";
    case ProbeMethod::kStamp:
      return "stamp";
  }
  return "unknown";
}

CaptureStats Minus(const CaptureStats& a, const CaptureStats& b) {
  CaptureStats d;
  d.received = a.received >= b.received ? a.received - b.received : a.received;
  d.kernel_dropped =
      a.kernel_dropped >= b.kernel_dropped ? a.kernel_dropped - b.kernel_dropped : a.kernel_dropped;
  d.interface_dropped = a.interface_dropped >= b.interface_dropped
                            ? a.interface_dropped - b.interface_dropped
                            : a.interface_dropped;
  return d;
}

void AddTo(CaptureStats& total, const CaptureStats& d) {
  total.received += d.received;
  total.kernel_dropped += d.kernel_dropped;
  total.interface_dropped += d.interface_dropped;
}

bool SameDns(const resolver::DnsProbeConfig& a, const resolver::DnsProbeConfig& b) {
  return a.servers == b.servers && a.names == b.names && a.types == b.types &&
         a.interval == b.interval && a.jitter == b.jitter && a.timeout == b.timeout &&
         a.nsid == b.nsid && a.chaos == b.chaos;
}

bool SameCollector(const ExporterOptions& a, const ExporterOptions& b) {
  return a.target == b.target && a.ca_file == b.ca_file && a.cert_file == b.cert_file &&
         a.key_file == b.key_file && a.server_name == b.server_name;
}

bool SamePassive(const PassiveConfig& a, const PassiveConfig& b) {
  return a.interface == b.interface && a.local_prefixes == b.local_prefixes &&
         a.local_ports == b.local_ports && a.prefix_length_v4 == b.prefix_length_v4 &&
         a.prefix_length_v6 == b.prefix_length_v6 &&
         a.anonymization_key_file == b.anonymization_key_file;
}

bool SameStampReflector(const StampReflectorConfig& a, const StampReflectorConfig& b) {
  return a.enabled == b.enabled && a.address == b.address && a.port == b.port;
}

bool SameIdentity(const ProbeConfig& a, const ProbeConfig& b) {
  return a.probe_id == b.probe_id && a.pop == b.pop;
}

// The sections a reload changes, by name (for the log).
std::vector<std::string> ChangedSections(const ProbeConfig& a, const ProbeConfig& b) {
  std::vector<std::string> out;
  if (!SameIdentity(a, b)) out.push_back("identity");
  if (a.user != b.user) out.push_back("user");
  if (!SameCollector(a.collector, b.collector)) out.push_back("collector");
  if (a.spool_dir != b.spool_dir || a.spool_max_bytes != b.spool_max_bytes) {
    out.push_back("spool");
  }
  if (a.window != b.window) out.push_back("window");
  if (a.metrics_listen != b.metrics_listen) out.push_back("metrics_listen");
  if (!(a.active == b.active)) out.push_back("active");
  if (!SamePassive(a.passive, b.passive)) out.push_back("passive");
  if (!SameDns(a.dns, b.dns)) out.push_back("dns");
  if (!SameStampReflector(a.stamp_reflector, b.stamp_reflector)) out.push_back("stamp_reflector");
  return out;
}

void AddExporterStats(const ExporterStats& s, ExporterStats* total) {
  total->sent += s.sent;
  total->stored += s.stored;
  total->duplicates += s.duplicates;
  total->rejected += s.rejected;
  total->oversized += s.oversized;
  total->connects += s.connects;
  total->connect_failures += s.connect_failures;
}

void Metric(std::string& out, const char* name, const char* type, const char* help) {
  absl::StrAppendFormat(&out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

}  // namespace

absl::Status ProbeDaemon::BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
    return absl::InternalError("pthread_sigmask failed");
  }
  return absl::OkStatus();
}

ProbeDaemon::ProbeDaemon(ProbeConfig config, std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      clock_(RealClock::Get()),
      dns_aggregator_(clock_.Now()) {}

ProbeDaemon::~ProbeDaemon() {
  StopDns();
  if (active_.prober) active_.prober->Stop();
  if (passive_capture_ && loop_) loop_->UnwatchFd(passive_capture_->source->selectable_fd());
  if (exporter_) exporter_->Stop();
  metrics_.reset();
  if (signal_fd_ >= 0) close(signal_fd_);
}

absl::StatusOr<ProbeDaemon::ActiveSet> ProbeDaemon::BuildActive(const ActiveConfig& active) {
  ActiveSet set;
  if (active.targets.empty()) return set;
  VANTAGE_ASSIGN_OR_RETURN(set.sender, RawSocketProbeSender::Create());
  VANTAGE_ASSIGN_OR_RETURN(auto secret, ProbeSecret::Generate());
  ActiveProber::Options po;
  po.flows = active.flows;
  po.burst = active.count;
  po.interval = active.interval;
  po.timeout = active.timeout;
  po.max_pps = active.rate;
  po.bucket_burst = std::max(1.0, std::min(1000.0, active.rate / 100));
  po.memory = std::max(absl::Seconds(5), 3 * active.timeout);
  VANTAGE_ASSIGN_OR_RETURN(
      set.prober, ActiveProber::Create(po, loop_.get(), &clock_, set.sender.get(), secret));
  std::vector<std::string> interfaces;
  if (!active.interface.empty()) interfaces.push_back(active.interface);
  for (const ActiveTargetConfig& t : active.targets) {
    for (const ProbeMethodSpec& spec : t.methods) {
      VANTAGE_RETURN_IF_ERROR(
          set.prober->AddTarget(ProbeTarget{t.address, spec}, t.interval).status());
    }
    if (!active.interface.empty()) continue;
    VANTAGE_ASSIGN_OR_RETURN(const IpAddress source, set.sender->SourceAddressFor(t.address));
    VANTAGE_ASSIGN_OR_RETURN(std::string name, InterfaceForAddress(source));
    if (std::find(interfaces.begin(), interfaces.end(), name) == interfaces.end()) {
      interfaces.push_back(std::move(name));
    }
  }
  for (const std::string& name : interfaces) {
    PcapLiveOptions co;
    co.interface = name;
    co.buffer_size_bytes = 8 << 20;
    co.immediate_mode = true;
    co.block_timeout_ms = 1;
    co.bpf_filter = set.prober->CaptureFilter();
    VANTAGE_ASSIGN_OR_RETURN(auto source, PcapLiveSource::Open(co));
    VANTAGE_RETURN_IF_ERROR(set.prober->AddSource(source.get(), IpPacketFromCapture));
    set.captures.push_back(CaptureHandle{name, std::move(source), {}});
  }
  return set;
}

void ProbeDaemon::RetireActive() {
  if (!active_.prober) return;
  active_.prober->DrainCaptures();
  for (FlowReport& f : active_.prober->TakeWindow()) carried_active_.push_back(std::move(f));
  AddProberCounters(active_.prober->counters(), &counters_.prober);
  for (CaptureHandle& h : active_.captures) {
    const CaptureStats now = h.source->Stats();
    const CaptureStats d = Minus(now, h.reported);
    h.reported = now;
    AddTo(counters_.capture["active"], d);
    carried_capture_.emplace_back(h.interface, d);
  }
  active_.prober->Stop();
  active_ = ActiveSet{};
}

absl::StatusOr<ProbeDaemon::PassiveSet> ProbeDaemon::BuildPassive(const PassiveConfig& p,
                                                                  absl::Duration window) {
  PassiveSet set;
  if (p.interface.empty()) return set;
  set.aggregator = std::make_unique<ClientPrefixAggregator>(window);
  PassiveRttOptions po;
  po.local_prefixes = p.local_prefixes;
  po.local_ports = p.local_ports;
  po.client_prefix_length_v4 = p.prefix_length_v4;
  po.client_prefix_length_v6 = p.prefix_length_v6;
  VANTAGE_ASSIGN_OR_RETURN(set.rtt, PassiveRtt::Create(po, set.aggregator.get()));
  if (!p.anonymization_key_file.empty()) {
    std::ifstream in(p.anonymization_key_file, std::ios::binary);
    std::ostringstream key;
    key << in.rdbuf();
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read anonymization key file ", p.anonymization_key_file));
    }
    VANTAGE_RETURN_IF_ERROR(set.rtt->SetAnonymizationKey(key.str()));
  }
  PcapLiveOptions co;
  co.interface = p.interface;
  co.buffer_size_bytes = 16 << 20;
  co.immediate_mode = false;
  co.block_timeout_ms = 10;
  co.bpf_filter = "tcp";
  VANTAGE_ASSIGN_OR_RETURN(auto source, PcapLiveSource::Open(co));
  set.capture = CaptureHandle{p.interface, std::move(source), {}};
  return set;
}

absl::Status ProbeDaemon::InstallPassive(PassiveSet set) {
  passive_aggregator_ = std::move(set.aggregator);
  passive_ = std::move(set.rtt);
  passive_capture_ = std::move(set.capture);
  if (!passive_capture_) return absl::OkStatus();
  return loop_->WatchFd(passive_capture_->source->selectable_fd(), EPOLLIN,
                        [this](uint32_t) { DrainPassive(16); });
}

void ProbeDaemon::RetirePassive() {
  if (!passive_) return;
  DrainPassive(1000);
  passive_->Flush();
  for (ClientPrefixWindow& w : passive_aggregator_->TakeAll()) {
    carried_passive_.push_back(std::move(w));
  }
  const CaptureStats now = passive_capture_->source->Stats();
  const CaptureStats d = Minus(now, passive_capture_->reported);
  AddTo(counters_.capture["passive"], d);
  carried_capture_.emplace_back(passive_capture_->interface, d);
  const PassiveRttStats& s = passive_->stats();
  for (size_t m = 0; m < s.samples.size(); ++m)
    counters_.passive_samples_retired[m] += s.samples[m];
  counters_.passive_packets_retired += s.packets;
  loop_->UnwatchFd(passive_capture_->source->selectable_fd());
  passive_capture_.reset();
  passive_.reset();
  passive_aggregator_.reset();
}

absl::Status ProbeDaemon::StartPassive() {
  VANTAGE_ASSIGN_OR_RETURN(PassiveSet set, BuildPassive(config_.passive, config_.window));
  return InstallPassive(std::move(set));
}

void ProbeDaemon::DrainPassive(int max_batches) {
  if (!passive_capture_) return;
  for (int i = 0; i < max_batches; ++i) {
    auto n = passive_->DispatchFrom(passive_capture_->source.get(), 256);
    if (!n.ok() || *n == 0) return;
  }
}

absl::Status ProbeDaemon::StartDns() {
  if (config_.dns.servers.empty()) return absl::OkStatus();
  VANTAGE_ASSIGN_OR_RETURN(dns_prober_, resolver::DnsProber::Create(loop_.get(), &dns_transport_,
                                                                    config_.dns.ProberOptions()));
  dns_scheduler_ = std::make_unique<resolver::DnsProbeScheduler>(
      loop_.get(), dns_prober_.get(), &clock_, config_.dns,
      [](const std::vector<resolver::DnsWindowStats>& /*unused*/) {
        // The probe's own aggregator (fed below) closes the windows.
      },
      [this](const resolver::DnsQueryResult& result) {
        dns_aggregator_.Add(result);
        ++counters_.dns_sent;
        if (result.answered()) {
          ++counters_.dns_answered;
        } else if (result.outcome() == resolver::DnsOutcome::kTimeout) {
          ++counters_.dns_timeouts;
        } else {
          ++counters_.dns_errors;
        }
      });
  return dns_scheduler_->Start();
}

void ProbeDaemon::StopDns() {
  if (dns_scheduler_) dns_scheduler_->Stop();
  dns_scheduler_.reset();
  dns_prober_.reset();
}

absl::Status ProbeDaemon::WatchSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return absl::InternalError(absl::StrCat("signalfd: ", std::strerror(errno)));
  return loop_->WatchFd(signal_fd_, EPOLLIN, [this](uint32_t) { OnSignal(); });
}

void ProbeDaemon::OnSignal() {
  signalfd_siginfo info{};
  while (read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    if (info.ssi_signo == SIGHUP) {
      Reload();
    } else {
      spdlog::info("vantage-probe: signal {}, flushing the open window", info.ssi_signo);
      BeginShutdown();
    }
  }
}

void ProbeDaemon::Reload() {
  if (stopping_ || reload_deferred_) return;
  if (identity_switch_) {
    // Handled once the identity switch in progress is done.
    reload_waiting_ = true;
    spdlog::info("vantage-probe: reload waits for the identity switch in progress");
    return;
  }
  auto refuse = [this](absl::string_view what, const absl::Status& s) {
    ++counters_.reloads_failed;
    spdlog::error("vantage-probe: reload refused, still running the previous config: {}{}",
                  std::string(what), std::string(s.message()));
    PublishCounters();
  };
  auto fresh = ProbeConfig::Load(config_path_);
  if (!fresh.ok()) return refuse("", fresh.status());
  const std::vector<std::string> changed = ChangedSections(config_, *fresh);
  const bool identity_changed = !SameIdentity(config_, *fresh);
  if (identity_changed && clock_.Now() - window_start_ < kMinWindow) {
    // The open window closes under the old identity; it must be long enough.
    reload_deferred_ = true;
    loop_->AddTimerAfter(window_start_ + kMinWindow - clock_.Now(), [this] {
      reload_deferred_ = false;
      Reload();
    });
    return;
  }

  // 1. Prepare everything that can fail, without touching what runs.
  std::optional<ActiveSet> active;
  if (!(fresh->active == config_.active)) {
    auto set = BuildActive(fresh->active);
    if (!set.ok()) return refuse("active: ", set.status());
    active = std::move(*set);
  }
  const bool passive_changed =
      !SamePassive(fresh->passive, config_.passive) || fresh->window != config_.window;
  std::optional<PassiveSet> passive;
  if (passive_changed) {
    auto set = BuildPassive(fresh->passive, fresh->window);
    if (!set.ok()) return refuse("passive: ", set.status());
    passive = std::move(*set);
  }
  const bool transport_changed = !SameCollector(fresh->collector, config_.collector) ||
                                 fresh->spool_dir != config_.spool_dir ||
                                 fresh->spool_max_bytes != config_.spool_max_bytes;
  if (!SameCollector(fresh->collector, config_.collector)) {
    Exporter check(nullptr, fresh->collector);
    if (absl::Status s = check.LoadCredentials(); !s.ok()) return refuse("collector: ", s);
  }
  std::unique_ptr<Spool> new_spool;
  if (fresh->spool_dir != config_.spool_dir) {
    auto opened = Spool::Open(fresh->spool_dir, fresh->spool_max_bytes);
    if (!opened.ok()) return refuse("spool: ", opened.status());
    new_spool = std::move(*opened);
  }
  std::unique_ptr<MetricsHttpServer> new_metrics;
  if (fresh->metrics_listen != config_.metrics_listen && !fresh->metrics_listen.empty()) {
    auto listen = Endpoint::Parse(fresh->metrics_listen);
    if (!listen.ok()) return refuse("metrics_listen: ", listen.status());
    auto started = MetricsHttpServer::Start(*listen, [this] { return RenderMetrics(); });
    if (!started.ok()) return refuse("metrics_listen: ", started.status());
    new_metrics = std::move(*started);
  }
  // The STAMP reflector binds the port the old one holds: swap it now, and
  // put the old one back if the new one cannot bind.
  if (!SameStampReflector(fresh->stamp_reflector, config_.stamp_reflector)) {
    auto make =
        [this](const StampReflectorConfig& c) -> absl::StatusOr<std::unique_ptr<StampReflector>> {
      if (!c.enabled) return std::unique_ptr<StampReflector>();
      StampReflector::Options so;
      so.address = c.address;
      so.port = c.port;
      return StampReflector::Create(so, loop_.get());
    };
    stamp_reflector_.reset();
    auto reflector = make(fresh->stamp_reflector);
    if (!reflector.ok()) {
      if (auto old = make(config_.stamp_reflector); old.ok()) {
        stamp_reflector_ = std::move(*old);
      } else {
        spdlog::error("vantage-probe: reload: the previous STAMP reflector cannot rebind: {}",
                      std::string(old.status().message()));
      }
      return refuse("stamp_reflector: ", reflector.status());
    }
    stamp_reflector_ = std::move(*reflector);
    config_.stamp_reflector = fresh->stamp_reflector;
  }

  // 2. Apply; nothing below refuses the reload.
  spdlog::info("vantage-probe: reloading {}: changed: {}", config_path_,
               changed.empty() ? std::string("nothing") : absl::StrJoin(changed, ", "));
  if (identity_changed) {
    // Close the open window under the old identity, and start the next one.
    if (window_timer_armed_) loop_->CancelTimer(window_timer_);
    window_timer_armed_ = false;
    CloseWindow(clock_.Now(), /*final=*/true);
  }
  if (active) {
    RetireActive();
    active_ = std::move(*active);
    config_.active = fresh->active;
    if (active_.prober) {
      if (absl::Status s = active_.prober->Start(); !s.ok()) {
        spdlog::error("vantage-probe: reload: active prober: {}", std::string(s.message()));
      }
    }
  }
  if (!SameDns(fresh->dns, config_.dns)) {
    StopDns();
    config_.dns = fresh->dns;
    if (absl::Status s = StartDns(); !s.ok()) {
      spdlog::error("vantage-probe: reload: dns prober: {}", std::string(s.message()));
    }
  }
  if (passive) {
    RetirePassive();
    if (absl::Status s = InstallPassive(std::move(*passive)); !s.ok()) {
      spdlog::error("vantage-probe: reload: passive capture: {}", std::string(s.message()));
    }
    config_.passive = fresh->passive;
  }
  if (fresh->window != config_.window) {
    config_.window = fresh->window;
    if (window_timer_armed_) loop_->CancelTimer(window_timer_);
    window_timer_armed_ = false;
  }
  if (!window_timer_armed_) ArmWindowTimer();
  if (fresh->metrics_listen != config_.metrics_listen) {
    metrics_ = std::move(new_metrics);  // the old server stops here
    config_.metrics_listen = fresh->metrics_listen;
  }
  if (fresh->user != config_.user) {
    if (counters_.privileges_dropped) {
      spdlog::warn(
          "vantage-probe: reload: 'user' changed to '{}', but privileges are already "
          "dropped; that takes a restart",
          fresh->user);
    } else if (!fresh->user.empty()) {
      if (absl::Status s = PrivilegeDropper::DropTo(fresh->user, {fresh->spool_dir}); !s.ok()) {
        spdlog::error("vantage-probe: reload: cannot drop privileges: {}",
                      std::string(s.message()));
      } else {
        counters_.privileges_dropped = true;
        config_.user = fresh->user;
        spdlog::info("vantage-probe: dropped privileges: {}", PrivilegeDropper::Describe());
      }
    }
  }
  if (identity_changed) {
    // The new identity applies to the window that opened above; its windows
    // wait in memory until the old identity's are delivered.
    spdlog::info(
        "vantage-probe: identity {}@{} -> {}@{}: delivering {} window(s) of the old "
        "identity first",
        config_.probe_id, config_.pop, fresh->probe_id, fresh->pop, spool_->Stats().records);
    config_.probe_id = fresh->probe_id;
    config_.pop = fresh->pop;
    identity_switch_ = IdentitySwitch{*fresh, {}, clock_.Now() + kIdentityDrainLimit};
    pending_spool_ = std::move(new_spool);
    PollIdentitySwitch();
  } else if (transport_changed) {
    SwitchTransport(*fresh, std::move(new_spool));
  }
  ++counters_.reloads_ok;
  spdlog::info("vantage-probe: reloaded {} ({} active targets, {} dns servers)", config_path_,
               config_.active.targets.size(), config_.dns.servers.size());
  PublishCounters();
}

void ProbeDaemon::SwitchTransport(const ProbeConfig& next, std::unique_ptr<Spool> new_spool) {
  std::lock_guard<std::mutex> lock(transport_mu_);
  exporter_->Stop();
  AddExporterStats(exporter_->Stats(), &counters_.exporter_retired);
  exporter_.reset();
  if (new_spool) {
    // The waiting windows move over, in order.
    uint64_t moved = 0;
    while (std::optional<SpoolRecord> r = spool_->Next(0)) {
      if (auto seq = new_spool->Append(r->payload); !seq.ok()) {
        spdlog::error("vantage-probe: moving the spool: {}", std::string(seq.status().message()));
        break;
      }
      (void)spool_->Remove(r->seq);
      ++moved;
    }
    spdlog::info("vantage-probe: spool {} -> {} ({} windows moved)", spool_->dir(),
                 new_spool->dir(), moved);
    spool_ = std::move(new_spool);
  }
  spool_->SetMaxBytes(next.spool_max_bytes);
  config_.spool_dir = next.spool_dir;
  config_.spool_max_bytes = next.spool_max_bytes;
  config_.collector = next.collector;
  exporter_ = std::make_unique<Exporter>(spool_.get(), config_.collector);
  if (absl::Status s = exporter_->Start(); !s.ok()) {
    spdlog::error("vantage-probe: exporter: {}", std::string(s.message()));
  }
  exporter_->Notify();
}

void ProbeDaemon::PollIdentitySwitch() {
  if (!identity_switch_) return;
  const bool drained = spool_->Stats().records == 0;
  if (!drained && clock_.Now() < identity_switch_->deadline && !stopping_) {
    loop_->AddTimerAfter(absl::Milliseconds(50), [this] { PollIdentitySwitch(); });
    return;
  }
  FinishIdentitySwitch();
}

void ProbeDaemon::FinishIdentitySwitch() {
  if (!identity_switch_) return;
  IdentitySwitch sw = std::move(*identity_switch_);
  identity_switch_.reset();
  const uint64_t orphaned = spool_->Stats().records;
  if (orphaned > 0) {
    counters_.identity_orphaned += orphaned;
    spdlog::warn(
        "vantage-probe: identity switch: {} window(s) of the old identity were not "
        "delivered in time; they go out under the new identity's certificate",
        orphaned);
  }
  if (!SameCollector(sw.next.collector, config_.collector) ||
      sw.next.spool_dir != config_.spool_dir ||
      sw.next.spool_max_bytes != config_.spool_max_bytes) {
    SwitchTransport(sw.next, std::move(pending_spool_));
  }
  pending_spool_.reset();
  for (const std::string& report : sw.held) {
    if (auto seq = spool_->Append(report); !seq.ok()) {
      ++counters_.window_append_errors;
      spdlog::error("vantage-probe: window lost, spool append failed: {}",
                    std::string(seq.status().message()));
    }
  }
  exporter_->Notify();
  ++counters_.identity_switches;
  spdlog::info("vantage-probe: now reporting as {}@{} ({} held window(s) spooled)",
               config_.probe_id, config_.pop, sw.held.size());
  PublishCounters();
  if (reload_waiting_) {
    reload_waiting_ = false;
    Reload();
  }
}

absl::Status ProbeDaemon::Start() {
  VANTAGE_ASSIGN_OR_RETURN(loop_, EventLoop::Create());
  VANTAGE_ASSIGN_OR_RETURN(spool_, Spool::Open(config_.spool_dir, config_.spool_max_bytes));
  VANTAGE_ASSIGN_OR_RETURN(active_, BuildActive(config_.active));
  VANTAGE_RETURN_IF_ERROR(StartPassive());
  VANTAGE_RETURN_IF_ERROR(StartDns());
  if (config_.stamp_reflector.enabled) {
    StampReflector::Options so;
    so.address = config_.stamp_reflector.address;
    so.port = config_.stamp_reflector.port;
    VANTAGE_ASSIGN_OR_RETURN(stamp_reflector_, StampReflector::Create(so, loop_.get()));
  }
  exporter_ = std::make_unique<Exporter>(spool_.get(), config_.collector);
  VANTAGE_RETURN_IF_ERROR(exporter_->Start());
  if (!config_.metrics_listen.empty()) {
    VANTAGE_ASSIGN_OR_RETURN(const Endpoint listen, Endpoint::Parse(config_.metrics_listen));
    VANTAGE_ASSIGN_OR_RETURN(metrics_,
                             MetricsHttpServer::Start(listen, [this] { return RenderMetrics(); }));
  }
  VANTAGE_RETURN_IF_ERROR(WatchSignals());
  if (!config_.user.empty()) {
    VANTAGE_RETURN_IF_ERROR(PrivilegeDropper::DropTo(config_.user, {config_.spool_dir}));
    counters_.privileges_dropped = true;
    spdlog::info("vantage-probe: dropped privileges: {}", PrivilegeDropper::Describe());
  }
  if (active_.prober) VANTAGE_RETURN_IF_ERROR(active_.prober->Start());
  window_start_ = clock_.Now();
  dns_aggregator_.CloseWindow(window_start_);  // nothing yet; starts the first window now
  ArmWindowTimer();
  PublishCounters();
  return absl::OkStatus();
}

void ProbeDaemon::ArmWindowTimer() {
  const absl::Time now = clock_.Now();
  const int64_t window_ns = absl::ToInt64Nanoseconds(config_.window);
  int64_t boundary_ns = (absl::ToUnixNanos(now) / window_ns + 1) * window_ns;
  // The first window may start anywhere; it must still be long enough.
  while (absl::FromUnixNanos(boundary_ns) - window_start_ < kMinWindow) boundary_ns += window_ns;
  const absl::Time boundary = absl::FromUnixNanos(boundary_ns);
  window_timer_ = loop_->AddTimerAfter(boundary - now, [this, boundary] {
    window_timer_armed_ = false;
    CloseWindow(boundary, /*final=*/false);
    ArmWindowTimer();
  });
  window_timer_armed_ = true;
}

void ProbeDaemon::TallyActive(const std::vector<FlowReport>& flows) {
  for (const FlowReport& f : flows) {
    const char* method = MethodLabel(f.target.spec.method);
    counters_.active_sent[method] += f.sent;
    counters_.active_received[method] += f.received;
    counters_.active_lost[method] += f.lost;
  }
}

std::vector<std::pair<std::string, CaptureStats>> ProbeDaemon::TakeCaptureDeltas() {
  std::vector<std::pair<std::string, CaptureStats>> out = std::move(carried_capture_);
  carried_capture_.clear();
  for (CaptureHandle& h : active_.captures) {
    const CaptureStats now = h.source->Stats();
    const CaptureStats d = Minus(now, h.reported);
    h.reported = now;
    AddTo(counters_.capture["active"], d);
    out.emplace_back(h.interface, d);
  }
  if (passive_capture_) {
    const CaptureStats now = passive_capture_->source->Stats();
    passive_->UpdateCaptureStats(now);
    const CaptureStats d = Minus(now, passive_capture_->reported);
    passive_capture_->reported = now;
    AddTo(counters_.capture["passive"], d);
    out.emplace_back(passive_capture_->interface, d);
  }
  return out;
}

void ProbeDaemon::CloseWindow(absl::Time end, bool final) {
  ProbeWindow w;
  w.probe_id = config_.probe_id;
  w.pop = config_.pop;
  w.start = window_start_;
  w.end = end;
  w.active = std::move(carried_active_);
  carried_active_.clear();
  if (active_.prober) {
    active_.prober->DrainCaptures();
    for (FlowReport& f : active_.prober->TakeWindow()) w.active.push_back(std::move(f));
  }
  TallyActive(w.active);
  w.passive = std::move(carried_passive_);
  carried_passive_.clear();
  if (passive_) {
    DrainPassive(final ? 1000 : 16);
    passive_->Flush();
    for (ClientPrefixWindow& p :
         final ? passive_aggregator_->TakeAll() : passive_aggregator_->TakeCompleted(end)) {
      w.passive.push_back(std::move(p));
    }
  }
  w.pseudonymised = !config_.passive.anonymization_key_file.empty();
  w.dns = dns_aggregator_.CloseWindow(end);
  w.capture = TakeCaptureDeltas();
  w.spool_dropped = spool_->Stats().dropped_full;
  const v1::ProbeReport report = WindowBuilder::Build(w, WindowBuilder::NewReportId());
  if (identity_switch_) {
    // Spooled once the old identity's windows are delivered.
    identity_switch_->held.push_back(report.SerializeAsString());
  } else if (auto seq = spool_->Append(report.SerializeAsString()); !seq.ok()) {
    ++counters_.window_append_errors;
    spdlog::error("vantage-probe: window lost, spool append failed: {}",
                  std::string(seq.status().message()));
  } else {
    exporter_->Notify();
  }
  ++counters_.windows;
  window_start_ = end;
  PublishCounters();
}

void ProbeDaemon::BeginShutdown() {
  if (stopping_) return;
  stopping_ = true;
  if (window_timer_armed_) loop_->CancelTimer(window_timer_);
  window_timer_armed_ = false;
  const absl::Duration wait =
      std::max(absl::ZeroDuration(), window_start_ + kMinWindow - clock_.Now());
  loop_->AddTimerAfter(wait, [this] {
    CloseWindow(std::max(clock_.Now(), window_start_ + kMinWindow), /*final=*/true);
    FinishIdentitySwitch();  // held windows go to the spool
    loop_->Stop();
  });
}

void ProbeDaemon::PublishCounters() {
  Counters snapshot = counters_;
  if (active_.prober) {
    AddProberCounters(active_.prober->counters(), &snapshot.prober);
  }
  snapshot.active_targets = 0;
  for (const ActiveTargetConfig& t : config_.active.targets) {
    snapshot.active_targets += t.methods.size();
  }
  for (int m = 0; m < kRttMethodCount; ++m) {
    snapshot.passive_samples[RttMethodName(static_cast<RttMethod>(m))] =
        counters_.passive_samples_retired[static_cast<size_t>(m)] +
        (passive_ ? passive_->stats().samples[static_cast<size_t>(m)] : 0);
  }
  snapshot.passive_packets =
      counters_.passive_packets_retired + (passive_ ? passive_->stats().packets : 0);
  snapshot.passive_flows_open = passive_ ? passive_->flow_count() : 0;
  snapshot.probe_id = config_.probe_id;
  snapshot.pop = config_.pop;
  std::lock_guard<std::mutex> lock(published_mu_);
  published_ = std::move(snapshot);
}

absl::Status ProbeDaemon::Run() {
  // Refreshes the /metrics snapshot between windows.
  std::function<void()> publish = [this, &publish] {
    PublishCounters();
    if (!stopping_) loop_->AddTimerAfter(kPublishInterval, publish);
  };
  loop_->AddTimerAfter(kPublishInterval, publish);
  loop_->Run();
  StopDns();
  if (active_.prober) active_.prober->Stop();
  // Give the exporter a moment to deliver what is spooled; the rest is
  // replayed on the next start.
  const absl::Time deadline = clock_.MonotonicNow() + kShutdownGrace;
  while (spool_->Stats().records > 0 && exporter_->Stats().connected &&
         clock_.MonotonicNow() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  exporter_->Stop();
  spdlog::info("vantage-probe: stopped ({} windows, {} still spooled)", counters_.windows,
               spool_->Stats().records);
  return exit_status_;
}

std::string ProbeDaemon::RenderMetrics() const {
  Counters c;
  {
    std::lock_guard<std::mutex> lock(published_mu_);
    c = published_;
  }
  SpoolStats spool;
  ExporterStats ex = c.exporter_retired;
  {
    std::lock_guard<std::mutex> lock(transport_mu_);
    spool = spool_->Stats();
    const ExporterStats live = exporter_->Stats();
    AddExporterStats(live, &ex);
    ex.connected = live.connected;
  }
  std::string out;
  Metric(out, "vantage_probe_up", "gauge", "1 while the probe runs");
  absl::StrAppendFormat(&out, "vantage_probe_up 1\n");
  Metric(out, "vantage_probe_info", "gauge", "Identity of this probe");
  absl::StrAppendFormat(&out, "vantage_probe_info{probe=\"%s\",pop=\"%s\"} 1\n", c.probe_id, c.pop);
  Metric(out, "vantage_probe_privileges_dropped", "gauge",
         "1 when running as the configured user with CAP_NET_RAW/CAP_NET_ADMIN only");
  absl::StrAppendFormat(&out, "vantage_probe_privileges_dropped %d\n",
                        c.privileges_dropped ? 1 : 0);
  Metric(out, "vantage_probe_windows_total", "counter", "Windows closed and spooled");
  absl::StrAppendFormat(&out, "vantage_probe_windows_total %d\n", c.windows);
  Metric(out, "vantage_probe_window_append_errors_total", "counter",
         "Windows lost because the spool append failed");
  absl::StrAppendFormat(&out, "vantage_probe_window_append_errors_total %d\n",
                        c.window_append_errors);
  Metric(out, "vantage_probe_config_reloads_total", "counter", "SIGHUP reloads by result");
  absl::StrAppendFormat(&out, "vantage_probe_config_reloads_total{result=\"ok\"} %d\n",
                        c.reloads_ok);
  absl::StrAppendFormat(&out, "vantage_probe_config_reloads_total{result=\"error\"} %d\n",
                        c.reloads_failed);
  Metric(out, "vantage_probe_identity_switches_total", "counter",
         "Identity (probe id / PoP) changes applied by a reload");
  absl::StrAppendFormat(&out, "vantage_probe_identity_switches_total %d\n", c.identity_switches);
  Metric(out, "vantage_probe_identity_orphaned_total", "counter",
         "Windows of a previous identity not delivered before an identity switch");
  absl::StrAppendFormat(&out, "vantage_probe_identity_orphaned_total %d\n", c.identity_orphaned);

  Metric(out, "vantage_probe_active_targets", "gauge", "Configured (target, method) pairs");
  absl::StrAppendFormat(&out, "vantage_probe_active_targets %d\n", c.active_targets);
  const struct {
    const char* name;
    const char* help;
    const std::map<std::string, uint64_t>* values;
  } per_method[] = {
      {"vantage_probe_active_sent_total", "Active probes sent, by method", &c.active_sent},
      {"vantage_probe_active_received_total", "Active probes answered, by method",
       &c.active_received},
      {"vantage_probe_active_lost_total", "Active probes lost, by method", &c.active_lost},
  };
  for (const auto& m : per_method) {
    Metric(out, m.name, "counter", m.help);
    for (const char* method : {"icmp", "tcp", "stamp"}) {
      auto it = m.values->find(method);
      absl::StrAppendFormat(&out, "%s{method=\"%s\"} %d\n", m.name, method,
                            it == m.values->end() ? 0 : it->second);
    }
  }
  Metric(out, "vantage_probe_active_events_total", "counter",
         "Captured packets and send events outside any probe's statistics, by kind");
  const std::pair<const char*, uint64_t> events[] = {
      {"captured", c.prober.captured},
      {"undecodable", c.prober.undecodable},
      {"unrelated", c.prober.unrelated},
      {"forged", c.prober.forged},
      {"stale", c.prober.stale},
      {"send_error", c.prober.send_errors},
      {"rate_limited", c.prober.rate_limited},
      {"unattributed_error", c.prober.unattributed_errors},
  };
  for (const auto& [kind, n] : events) {
    absl::StrAppendFormat(&out, "vantage_probe_active_events_total{kind=\"%s\"} %d\n", kind, n);
  }
  Metric(out, "vantage_probe_active_evicted_total", "counter",
         "Pending probes given up because their flow's in-flight ring came round to them "
         "before their timeout (also counted as lost)");
  absl::StrAppendFormat(&out, "vantage_probe_active_evicted_total %d\n", c.prober.evicted);
  Metric(out, "vantage_probe_active_tcp_ports_exhausted_total", "counter",
         "TCP SYN probes not sent because every source port of their flow had a probe in flight");
  absl::StrAppendFormat(&out, "vantage_probe_active_tcp_ports_exhausted_total %d\n",
                        c.prober.tcp_ports_exhausted);

  Metric(out, "vantage_probe_passive_samples_total", "counter", "Passive RTT samples, by method");
  for (const char* method : {"handshake", "timestamp", "seq_ack"}) {
    auto it = c.passive_samples.find(method);
    absl::StrAppendFormat(&out, "vantage_probe_passive_samples_total{method=\"%s\"} %d\n", method,
                          it == c.passive_samples.end() ? 0 : it->second);
  }
  Metric(out, "vantage_probe_passive_flows", "gauge", "TCP flows tracked now");
  absl::StrAppendFormat(&out, "vantage_probe_passive_flows %d\n", c.passive_flows_open);
  Metric(out, "vantage_probe_passive_packets_total", "counter", "Packets seen by passive RTT");
  absl::StrAppendFormat(&out, "vantage_probe_passive_packets_total %d\n", c.passive_packets);

  Metric(out, "vantage_probe_dns_queries_total", "counter", "DNS measurements, by result");
  absl::StrAppendFormat(&out, "vantage_probe_dns_queries_total{result=\"answered\"} %d\n",
                        c.dns_answered);
  absl::StrAppendFormat(&out, "vantage_probe_dns_queries_total{result=\"timeout\"} %d\n",
                        c.dns_timeouts);
  absl::StrAppendFormat(&out, "vantage_probe_dns_queries_total{result=\"error\"} %d\n",
                        c.dns_errors);

  const struct {
    const char* name;
    const char* help;
    uint64_t CaptureStats::*field;
  } capture[] = {
      {"vantage_probe_capture_received_total", "Packets delivered by the captures, by role",
       &CaptureStats::received},
      {"vantage_probe_capture_kernel_dropped_total",
       "Packets the kernel dropped for lack of buffer, by capture role",
       &CaptureStats::kernel_dropped},
      {"vantage_probe_capture_interface_dropped_total",
       "Packets the interface dropped, by capture role", &CaptureStats::interface_dropped},
  };
  for (const auto& m : capture) {
    Metric(out, m.name, "counter", m.help);
    for (const char* role : {"active", "passive"}) {
      auto it = c.capture.find(role);
      absl::StrAppendFormat(&out, "%s{role=\"%s\"} %d\n", m.name, role,
                            it == c.capture.end() ? 0 : it->second.*m.field);
    }
  }

  Metric(out, "vantage_probe_spool_records", "gauge", "Windows waiting in the spool");
  absl::StrAppendFormat(&out, "vantage_probe_spool_records %d\n", spool.records);
  Metric(out, "vantage_probe_spool_bytes", "gauge", "Bytes of the spool on disk");
  absl::StrAppendFormat(&out, "vantage_probe_spool_bytes %d\n", spool.bytes);
  Metric(out, "vantage_probe_spool_dropped_total", "counter",
         "Windows dropped from the spool, by reason");
  absl::StrAppendFormat(&out, "vantage_probe_spool_dropped_total{reason=\"full\"} %d\n",
                        spool.dropped_full);
  absl::StrAppendFormat(&out, "vantage_probe_spool_dropped_total{reason=\"corrupt\"} %d\n",
                        spool.corrupt);

  Metric(out, "vantage_probe_exporter_connected", "gauge", "1 while the collector stream is up");
  absl::StrAppendFormat(&out, "vantage_probe_exporter_connected %d\n", ex.connected ? 1 : 0);
  Metric(out, "vantage_probe_exporter_sent_total", "counter", "Reports sent (with resends)");
  absl::StrAppendFormat(&out, "vantage_probe_exporter_sent_total %d\n", ex.sent);
  Metric(out, "vantage_probe_exporter_acked_total", "counter",
         "Reports the collector acknowledged, by result");
  absl::StrAppendFormat(&out, "vantage_probe_exporter_acked_total{result=\"stored\"} %d\n",
                        ex.stored);
  absl::StrAppendFormat(&out, "vantage_probe_exporter_acked_total{result=\"duplicate\"} %d\n",
                        ex.duplicates);
  absl::StrAppendFormat(&out, "vantage_probe_exporter_acked_total{result=\"rejected\"} %d\n",
                        ex.rejected);
  Metric(out, "vantage_probe_exporter_oversized_total", "counter",
         "Reports dropped before sending: larger than the message limit");
  absl::StrAppendFormat(&out, "vantage_probe_exporter_oversized_total %d\n", ex.oversized);
  Metric(out, "vantage_probe_exporter_connects_total", "counter", "Connection attempts by result");
  absl::StrAppendFormat(&out, "vantage_probe_exporter_connects_total{result=\"ok\"} %d\n",
                        ex.connects);
  absl::StrAppendFormat(&out, "vantage_probe_exporter_connects_total{result=\"failed\"} %d\n",
                        ex.connect_failures);
  return out;
}

}  // namespace vantage::probe
