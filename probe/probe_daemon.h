// ProbeDaemon: the body of `vantage-probe`. Runs the active prober (raw
// sockets + live captures), passive RTT (a live capture) and the DNS prober
// on ONE EventLoop, closes a window every `window` (aligned to multiples of
// it since the Unix epoch), turns it into a v1::ProbeReport (WindowBuilder),
// appends it to the Spool and wakes the Exporter, which ships it on its own
// thread. /metrics is served by a MetricsHttpServer thread from a snapshot.
//
// Signals arrive through a signalfd on the loop (BlockSignals() must run in
// main() before any thread exists, so every thread inherits the mask):
//  * SIGHUP re-reads the config file. A bad file is refused (logged with its
//    file:line:column) and the probe keeps running unchanged. A good one
//    applies the active and DNS sections (targets, methods, intervals,
//    rates) and the window length; the open window is kept: the statistics
//    of a replaced prober are carried into it. Probes in flight in a
//    replaced active prober stay unresolved (sent, neither received nor
//    lost). Other sections (identity, collector, spool, passive, user,
//    metrics, stamp reflector) need a restart; a reload says so.
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
  absl::Status StartPassive();
  absl::Status StartDns();
  void StopDns();
  absl::Status WatchSignals();
  void OnSignal();
  void Reload();
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

  std::unique_ptr<ClientPrefixAggregator> passive_aggregator_;
  std::unique_ptr<PassiveRtt> passive_;
  std::optional<CaptureHandle> passive_capture_;

  resolver::PosixDnsTransport dns_transport_;
  std::unique_ptr<resolver::DnsProber> dns_prober_;
  std::unique_ptr<resolver::DnsProbeScheduler> dns_scheduler_;
  resolver::DnsAggregator dns_aggregator_;

  std::unique_ptr<StampReflector> stamp_reflector_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<Exporter> exporter_;
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
