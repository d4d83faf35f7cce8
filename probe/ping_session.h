// PingSession: a one-shot active measurement (what `vantagectl ping` runs and
// what integration tests and the benchmark drive in-process): probes a list
// of targets `count` times on a live capture, waits until every probe is
// resolved, and returns per-target results with all flows merged.
//
// Capture interfaces are found from the routing table (the interface that
// owns the source address towards each target) unless one is given.
//
// Needs CAP_NET_RAW (raw sockets and the capture); fails with
// PermissionDenied and a message saying so otherwise.
//
// Thread model: Run blocks the calling thread, owning its own EventLoop.
// Sockets and captures are opened in the calling thread's network namespace.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "probe/active_prober.h"
#include "probe/packet_source.h"
#include "probe/probe_target.h"

namespace vantage::probe {

struct PingOptions {
  std::vector<ProbeTarget> targets;
  int count = 5;
  absl::Duration interval = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(1);
  int flows = 1;
  // Probes per target per round (spread over the flows).
  int burst = 1;
  double max_pps = 10'000;
  std::optional<std::string> interface;
  int capture_buffer_bytes = 32 << 20;
  // RTT sketch accuracy (ActiveProber::Options::sketch_alpha / _max_bins).
  double sketch_alpha = 0.01;
  uint32_t sketch_max_bins = 256;
  // Immediate capture delivery (lowest processing latency), or TPACKET_V3
  // blocks retired every millisecond (fewer wake-ups at high rates). Either
  // way the timestamps are the kernel's.
  bool capture_immediate = true;
  // A fixed ActiveProber::Options::timer_coalescing (nullopt: its default,
  // 1 ms, grown at high rates by Options::coalesce_probes).
  std::optional<absl::Duration> timer_coalescing;
  // For one-way delays: treat our clock as synchronised (nullopt: ask the kernel).
  std::optional<bool> clock_synchronized;
  // Called once everything is set up and just before the first probe (tests
  // inject packets from here).
  std::function<void(const ActiveProber&)> on_start;
};

struct PingTargetResult {
  ProbeTarget target;
  FlowReport merged;  // all flows of the target
};

struct PingResult {
  std::vector<PingTargetResult> targets;
  ProberCounters counters;
  std::vector<std::string> interfaces;
  CaptureStats capture;  // summed over interfaces
  absl::Duration elapsed;
  absl::Duration send_span;  // first to last probe sent
  // CPU time (user + system, kernel work done in this thread's system calls
  // and softirqs included) from the first probe until everything resolved:
  // the probing alone, without target and capture set-up.
  absl::Duration probing_cpu;
  // ActiveProber::Memory() when every probe is resolved, before the window
  // is taken (the RTT sketches still held; the send log at its largest), and
  // its total per target.
  ActiveProber::MemoryUsage memory;
  size_t bytes_per_target = 0;
};

class PingSession {
 public:
  static absl::StatusOr<PingResult> Run(const PingOptions& options);
  // The prober configuration Run uses for `options` (without the seed).
  // Resolved probes are remembered until 2 × timeout + capture grace
  // (100 ms) after they were sent — one more timeout after the loss
  // decision: a reply up to then is counted as late or duplicate, a later
  // one as stale.
  static ActiveProber::Options ProberOptions(const PingOptions& options);
};

// The name of the interface that holds `address` (e.g. "lo" for 127.0.0.1).
absl::StatusOr<std::string> InterfaceForAddress(const IpAddress& address);

}  // namespace vantage::probe
