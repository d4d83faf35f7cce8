// ProbeDaemon: the body of `vantage-probe`. Runs the active prober (raw
// sockets + live captures), passive RTT (a live capture) and the DNS prober
// on ONE EventLoop, closes a window every `window` (aligned to multiples of
// it since the Unix epoch), turns it into a v1::ProbeReport (WindowBuilder),
// appends it to the Spool and wakes the Exporter, which ships it on its own
// thread. /metrics is served by a MetricsHttpServer thread from a snapshot.
//
// Signals arrive through a signalfd on the loop (BlockSignals() must run in
// main() before any thread exists, so every thread inherits the mask):
//  * SIGHUP re-reads the config file and applies every section without
//    losing the open window. A bad file (syntax, unknown key, bad value:
//    logged with its file:line:column) or a new config that cannot be put
//    in place (a capture that does not open, an unreadable certificate, a
//    port in use) is refused as a whole: the probe keeps running the old
//    config, and vantage_probe_config_reloads_total{result="error"} counts
//    it. Otherwise, per section:
//      active, dns: new probers replace the old; the statistics of the
//        replaced ones are carried into the open window (probes in flight
//        in a replaced active prober stay unresolved: sent, neither
//        received nor lost);
//      passive: a new capture (interface, filter) and RTT tracker replace
//        the old; the old one's client-prefix windows and capture counts
//        are carried into the open window (TCP flows it was tracking start
//        over in the new one);
//      window: the open window ends at the next boundary of the new length
//        (at least 1 s after it began);
//      collector, spool: the exporter reconnects with the new address /
//        certificates (what was in flight is resent; the collector
//        deduplicates); a new spool directory takes over the waiting
//        windows in order;
//      identity (probe_id, pop): the open window is closed at once under
//        the old identity (a reload within 1 s of a window's start waits
//        until it is 1 s long, the collector's minimum). Windows already
//        spooled under the old identity are delivered with the old
//        collector settings (certificate) first; windows closed meanwhile
//        under the new identity are held in memory and spooled once the
//        old ones are acknowledged, so no window goes out under a
//        certificate that does not name it. If the old windows cannot be
//        delivered within kIdentityDrainLimit (collector unreachable), the
//        switch happens anyway and what is left of them is counted in
//        vantage_probe_identity_orphaned_total (the collector will refuse
//        them as impersonations). A reload arriving meanwhile waits until
//        the switch is done;
//      metrics_listen, stamp_reflector: re-bound (after the privilege drop
//        a port below 1024 can no longer be bound: refused);
//      user: privileges are dropped once; a different user after the drop
//        takes a restart (logged, the rest is applied).
//  * SIGTERM / SIGINT close the open window (waiting until it is at least
//    the collector's minimum of 1 s long), append it to the spool, give the
//    exporter a few seconds to deliver what is spooled, and return.
//
// Privileges: Start() opens every socket, capture and file, then, when
// `user` is set, drops to it with CAP_NET_RAW and CAP_NET_ADMIN only
// (PrivilegeDropper).
//
// Thread model: Start() and Run() on one thread (the loop's); RenderMetrics()
// from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "core/metrics_http_server.h"
#include "probe/active_prober.h"
#include "probe/client_prefix_aggregator.h"
#include "probe/exporter.h"
#include "probe/passive_rtt.h"
#include "probe/pcap_live_source.h"
#include "probe/probe_config.h"
#include "probe/raw_socket_probe_sender.h"
#include "probe/spool.h"
#include "probe/stamp_reflector.h"
#include "probe/window_builder.h"
#include "resolver/dns_aggregator.h"
#include "resolver/dns_probe_scheduler.h"
#include "resolver/dns_prober.h"
#include "resolver/posix_dns_transport.h"

namespace vantage::probe {

class ProbeDaemon {
 public:
  // Blocks SIGHUP, SIGTERM and SIGINT in the calling thread (and so in every
  // thread it starts later); they are read from a signalfd instead.
  static absl::Status BlockSignals();

  // How long an identity change waits for the old identity's spooled
  // windows to be delivered before switching anyway.
  static constexpr absl::Duration kIdentityDrainLimit = absl::Minutes(2);

  // `config_path` is re-read on SIGHUP.
  ProbeDaemon(ProbeConfig config, std::string config_path);
  ~ProbeDaemon();
  ProbeDaemon(const ProbeDaemon&) = delete;
  ProbeDaemon& operator=(const ProbeDaemon&) = delete;

  // Opens everything, starts the exporter and /metrics, drops privileges.
  [[nodiscard]] absl::Status Start();
  // Runs until SIGTERM / SIGINT, then flushes; returns the shutdown status.
  absl::Status Run();

  std::string RenderMetrics() const;
  uint16_t metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  struct CaptureHandle {
    std::string interface;
    std::unique_ptr<PcapLiveSource> source;
    CaptureStats reported;  // what earlier windows already reported
  };
  // Cumulative, by method: what the measurement loop publishes for /metrics.
  struct Counters {
    std::map<std::string, uint64_t> active_sent, active_received, active_lost;
    uint64_t active_targets = 0;
    ProberCounters prober;  // of replaced probers, summed
    std::map<std::string, uint64_t> passive_samples;
    uint64_t passive_flows_open = 0;
    uint64_t passive_packets = 0;
    uint64_t dns_sent = 0, dns_answered = 0, dns_timeouts = 0, dns_errors = 0;
    std::map<std::string, CaptureStats> capture;  // role ("active", "passive") -> totals
    uint64_t windows = 0;
    uint64_t window_append_errors = 0;
    uint64_t reloads_ok = 0, reloads_failed = 0;
    uint64_t identity_switches = 0, identity_orphaned = 0;
    std::string probe_id, pop;  // the identity in use
    // Of replaced passive trackers and exporters, summed.
    std::array<uint64_t, kRttMethodCount> passive_samples_retired{};
    uint64_t passive_packets_retired = 0;
    ExporterStats exporter_retired;
    bool privileges_dropped = false;
  };

  struct ActiveSet {
    std::unique_ptr<RawSocketProbeSender> sender;
    std::unique_ptr<ActiveProber> prober;
    std::vector<CaptureHandle> captures;
  };
  // Opens the sender and captures for `active` (nothing when it has no
  // targets); the prober is not started.
  absl::StatusOr<ActiveSet> BuildActive(const ActiveConfig& active);
  // Carries the running prober's window and capture counts into the open
  // window and stops it.
  void RetireActive();
  struct PassiveSet {
    std::unique_ptr<ClientPrefixAggregator> aggregator;
    std::unique_ptr<PassiveRtt> rtt;
    std::optional<CaptureHandle> capture;
  };
  // Opens the capture and the RTT tracker for `passive` (nothing when it has
  // no interface); not yet watched on the loop.
  absl::StatusOr<PassiveSet> BuildPassive(const PassiveConfig& passive, absl::Duration window);
  absl::Status InstallPassive(PassiveSet set);
  // Carries the passive windows and capture counts into the open window and
  // closes the capture.
  void RetirePassive();
  absl::Status StartPassive();
  absl::Status StartDns();
  void StopDns();
  absl::Status WatchSignals();
  void OnSignal();
  void Reload();
  // Stops the exporter and starts one for `next`'s collector settings,
  // moving to `new_spool` (when given) or to `next`'s spool size cap.
  void SwitchTransport(const ProbeConfig& next, std::unique_ptr<Spool> new_spool);
  // Polls until the windows of the old identity are delivered, then
  // switches (see the class comment).
  void PollIdentitySwitch();
  void FinishIdentitySwitch();
  void ArmWindowTimer();
  void CloseWindow(absl::Time end, bool final);
  void BeginShutdown();
  void DrainPassive(int max_batches);
  void TallyActive(const std::vector<FlowReport>& flows);
  void PublishCounters();
  std::vector<std::pair<std::string, CaptureStats>> TakeCaptureDeltas();

  ProbeConfig config_;
  const std::string config_path_;
  const Clock& clock_;
  std::unique_ptr<EventLoop> loop_;
  int signal_fd_ = -1;

  ActiveSet active_;
  std::vector<FlowReport> carried_active_;  // from probers replaced in this window
  std::vector<std::pair<std::string, CaptureStats>> carried_capture_;
  std::vector<ClientPrefixWindow> carried_passive_;  // from replaced passive trackers

  std::unique_ptr<ClientPrefixAggregator> passive_aggregator_;
  std::unique_ptr<PassiveRtt> passive_;
  std::optional<CaptureHandle> passive_capture_;

  resolver::PosixDnsTransport dns_transport_;
  std::unique_ptr<resolver::DnsProber> dns_prober_;
  std::unique_ptr<resolver::DnsProbeScheduler> dns_scheduler_;
  resolver::DnsAggregator dns_aggregator_;

  std::unique_ptr<StampReflector> stamp_reflector_;
  // spool_ and exporter_ are replaced on the loop thread under transport_mu_;
  // RenderMetrics reads them under it.
  mutable std::mutex transport_mu_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Exporter> exporter_;
  // An identity change waiting for the old identity's windows to be
  // delivered: the config to switch to and the new identity's windows.
  struct IdentitySwitch {
    ProbeConfig next;
    std::vector<std::string> held;  // serialized reports, in window order
    absl::Time deadline;
  };
  std::optional<IdentitySwitch> identity_switch_;
  std::unique_ptr<Spool> pending_spool_;  // a new spool directory for the switch
  bool reload_waiting_ = false;           // a SIGHUP to handle once the switch is done
  bool reload_deferred_ = false;          // a reload timer is armed (window < 1 s old)
  std::unique_ptr<MetricsHttpServer> metrics_;

  absl::Time window_start_;
  EventLoop::TimerId window_timer_ = 0;
  bool window_timer_armed_ = false;
  bool stopping_ = false;
  absl::Status exit_status_;

  Counters counters_;  // loop thread only
  mutable std::mutex published_mu_;
  Counters published_;  // copy for RenderMetrics
};

}  // namespace vantage::probe
