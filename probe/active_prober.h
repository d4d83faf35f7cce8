// ActiveProber: sends ICMP echo, TCP SYN and STAMP probes to many targets on
// a schedule and turns the captured packets into per-(target, method, flow)
// loss and RTT statistics.
//
// Timing: RTT = capture timestamp of the reply − capture timestamp of our own
// request, both stamped by the kernel where libpcap sees them (the capture
// sees outgoing packets too); for STAMP minus the reflector's own time
// between its receive and send timestamps (T3 − T2), as TWAMP defines the
// round trip, the reflector's time being reported on its own. User-space send times are used only
// for scheduling and timeouts. A reply whose request was never captured is counted
// (no_request_timestamp) but adds no RTT.
//
// Scheduling: each target runs rounds at its interval with random jitter and
// phase (ProbeScheduler); a round sends `burst` probes, spread over the
// target's `flows` stable flows (Paris-style fixed 5-tuples / ICMP ids). All
// probes pass one global token bucket (`max_pps`): excess probes wait, in
// order, and are never dropped.
//
// Matching (ProbeCodec): only replies carrying a valid MAC under the per-run
// secret match. A probe is resolved exactly once: received (reply within the
// timeout, by capture timestamps), lost (no reply by then, or an ICMP error
// quoting it — counted by kind as well), never both. Later copies are
// duplicates; replies after the timeout are late (and the probe stays lost).
// Everything else is counted globally: forged, unrelated, stale.
//
// Accounting per window: `sent` counts probes sent in the window; received,
// lost and the rest count outcomes resolved in the window. Over a run that
// ends with nothing in flight, sent == received + lost.
//
// Memory: per target about 120 bytes plus, per flow, ~70 bytes and an RTT
// sketch whose size grows with the spread of RTTs (bounded by
// Options::sketch_max_bins).
//
// Thread model: everything runs on the EventLoop's thread; the prober is not
// synchronised. Time comes from the injected Clock (FakeClock in tests).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "core/quantile_sketch.h"
#include "probe/ip_packet_view.h"
#include "probe/packet_source.h"
#include "probe/probe_codec.h"
#include "probe/probe_scheduler.h"
#include "probe/probe_sender.h"
#include "probe/token_bucket.h"

namespace vantage::probe {

// Globally counted packets and events that belong to no flow.
struct ProberCounters {
  uint64_t captured = 0;             // packets the prober looked at
  uint64_t undecodable = 0;          // no IPv4/IPv6 packet inside
  uint64_t unrelated = 0;            // not about our probes
  uint64_t forged = 0;               // claimed to be ours, failed the MAC
  uint64_t stale = 0;                // valid MAC, probe no longer remembered
  uint64_t send_errors = 0;          // sendto failed (the probe is not counted as sent)
  uint64_t rate_limited = 0;         // probes that had to wait for a token
  uint64_t unattributed_errors = 0;  // ICMP errors quoting too little to find the probe
};

// One (target, method, flow) over one window.
struct FlowReport {
  uint32_t target_index = 0;
  ProbeTarget target;
  uint8_t flow = 0;
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t duplicates = 0;
  uint64_t late = 0;
  uint64_t no_request_timestamp = 0;
  std::array<uint64_t, kIcmpErrorKinds> errors{};
  std::optional<absl::Duration> min_rtt;
  QuantileSketch rtt_us;
  // STAMP only: the reflector's processing time (its send − receive
  // timestamps), and one-way delays when both clocks say they are
  // synchronised (reflector's S bit and our own kernel clock state).
  QuantileSketch reflector_us;
  QuantileSketch forward_us;
  QuantileSketch backward_us;
};

class ActiveProber {
 public:
  struct Options {
    int flows = 1;  // per target, 1..kMaxFlowsPerTarget
    int burst = 1;  // probes per round
    absl::Duration interval = absl::Seconds(1);
    double jitter = 0.1;
    bool random_phase = true;
    int64_t rounds = 0;  // per target; 0 = until stopped
    absl::Duration timeout = absl::Seconds(1);
    // How long after the timeout a probe waits for captures still queued in
    // the kernel before it is declared lost, and how long resolved probes are
    // remembered (for duplicates and late replies).
    absl::Duration capture_grace = absl::Milliseconds(100);
    absl::Duration memory = absl::Seconds(5);
    double max_pps = 10'000;
    double bucket_burst = 100;
    // Relative accuracy of the RTT sketches (QuantileSketch's alpha) and bins
    // per sketch (QuantileSketch collapses the lowest beyond that). The
    // defaults keep a target under 1 KiB; a quantile may then be off by up to
    // 1% of its value, so one-shot measurements that are checked against a 1%
    // bound (vantagectl ping) ask for a finer alpha and more bins.
    double sketch_alpha = 0.01;
    uint32_t sketch_max_bins = 256;
    uint64_t seed = 0;  // scheduling randomness; 0 = random
    // Our own clock's state, for STAMP one-way delays; nullopt = ask the kernel.
    std::optional<bool> local_clock_synchronized;
  };

  // `sender` must outlive the prober. `secret` is the per-run key.
  static absl::StatusOr<std::unique_ptr<ActiveProber>> Create(Options options, EventLoop* loop,
                                                              const Clock* clock,
                                                              ProbeSender* sender,
                                                              ProbeSecret secret);
  ~ActiveProber();
  ActiveProber(const ActiveProber&) = delete;
  ActiveProber& operator=(const ActiveProber&) = delete;

  // Before Start(). Per-target interval; Options::interval when absent.
  absl::StatusOr<uint32_t> AddTarget(const ProbeTarget& target,
                                     std::optional<absl::Duration> interval = std::nullopt);

  // Watches `source` (not owned; must outlive the prober) on the loop, with
  // `decode` turning its packets into IP packets. Sources without an fd are
  // drained by DrainCaptures() only.
  using Decoder = std::function<std::optional<IpPacketView>(const CapturedPacket&)>;
  [[nodiscard]] absl::Status AddSource(PacketSource* source, Decoder decode);

  // A pcap-filter(7) expression that captures our probes, their replies and
  // ICMP errors for the targets added so far (for PcapLiveOptions::bpf_filter).
  std::string CaptureFilter() const;

  // Arms the schedule on the loop.
  [[nodiscard]] absl::Status Start();
  void Stop();

  // Sends due probes, expires old ones and re-arms the timer. The loop's
  // timer calls it; tests with a FakeClock call it directly.
  void RunDue();
  // Reads everything waiting in the sources.
  void DrainCaptures();
  // One captured IP packet with its kernel timestamp.
  void OnIpPacket(absl::Time timestamp, const IpPacketView& packet);

  // All rounds sent and every probe resolved (only with Options::rounds > 0).
  bool Finished() const;

  // The statistics since the last call, per flow with any activity (all
  // flows when `include_idle`), and resets them.
  std::vector<FlowReport> TakeWindow(bool include_idle = false);
  const ProberCounters& counters() const { return counters_; }
  size_t in_flight() const { return in_flight_.size(); }
  // From the first to the last probe sent (monotonic), for rate figures.
  absl::Duration send_span() const { return last_send_ - first_send_; }
  const ProbeCodec& codec() const { return *codec_; }
  // Bytes held per target by the prober's own structures (not in-flight
  // probes, which are bounded by rate × memory): for the 1 KiB budget.
  size_t ApproximateBytesPerTarget() const;

 private:
  struct StampStats {
    QuantileSketch reflector_us;
    QuantileSketch forward_us;
    QuantileSketch backward_us;
  };
  struct FlowStats {
    uint32_t next_seq = 0;
    uint32_t sent = 0;
    uint32_t received = 0;
    uint32_t lost = 0;
    uint32_t duplicates = 0;
    uint32_t late = 0;
    uint32_t no_request_timestamp = 0;
    int64_t min_rtt_ns = -1;
    std::unique_ptr<std::array<uint32_t, kIcmpErrorKinds>> errors;
    std::unique_ptr<QuantileSketch> rtt_us;
    std::unique_ptr<StampStats> stamp;
  };
  enum class ProbeState : uint8_t { kPending, kReceived, kLost, kLateReceived };
  struct InFlight {
    int64_t request_wire_ns = 0;  // 0 until our request is captured
    int64_t sent_mono_ns = 0;
    ProbeState state = ProbeState::kPending;
  };
  struct QueuedRound {
    uint32_t target;
    uint32_t remaining;
    bool waited;
  };
  struct Deadline {
    int64_t deadline_ns;
    int64_t sent_ns;  // tells a reused key's new probe from the old one
    uint64_t key;
  };
  struct TargetState {
    uint8_t source_index = 0;  // into sources_addresses_
    uint8_t next_flow = 0;
  };

  ActiveProber(Options options, EventLoop* loop, const Clock* clock, ProbeSender* sender,
               std::unique_ptr<ProbeCodec> codec, std::vector<uint16_t> stamp_ports);

  static uint64_t Key(uint32_t target, uint8_t flow, uint16_t seq16) {
    return static_cast<uint64_t>(target) << 24 | static_cast<uint64_t>(flow) << 16 | seq16;
  }
  FlowStats& Flow(uint32_t target, uint8_t flow) {
    return flows_[static_cast<size_t>(target) * static_cast<size_t>(options_.flows) + flow];
  }
  QuantileSketch NewSketch() const {
    return QuantileSketch(options_.sketch_alpha, options_.sketch_max_bins);
  }
  void SendOne(uint32_t target, absl::Time now_mono);
  void ExpireUntil(int64_t now_mono_ns);
  void Resolve(uint32_t target, uint8_t flow, InFlight& probe, ProbeState state);
  void OnReply(absl::Time timestamp, const PacketClassification& c);
  void OnIcmpError(const PacketClassification& c);
  void ArmTimer();

  Options options_;
  EventLoop* loop_;
  const Clock* clock_;
  ProbeSender* sender_;
  std::unique_ptr<ProbeCodec> codec_;
  std::vector<uint16_t> stamp_ports_;
  ProbeScheduler scheduler_;
  TokenBucket bucket_;
  bool local_synchronized_ = false;
  uint16_t error_estimate_ = 0;
  bool started_ = false;

  std::vector<TargetState> targets_;
  std::vector<FlowStats> flows_;
  std::vector<IpAddress> source_addresses_;

  absl::flat_hash_map<uint64_t, InFlight> in_flight_;
  // (deadline, key) in deadline order: first the loss decision, then forgetting.
  std::deque<Deadline> expiry_;
  std::deque<Deadline> forget_;
  uint64_t pending_ = 0;
  std::deque<QueuedRound> queue_;

  struct SourceEntry {
    PacketSource* source;
    Decoder decode;
  };
  std::vector<SourceEntry> sources_;
  std::optional<EventLoop::TimerId> timer_;
  absl::Time timer_at_ = absl::InfiniteFuture();
  ProberCounters counters_;
  absl::Time first_send_ = absl::InfiniteFuture();
  absl::Time last_send_ = absl::InfiniteFuture();
};

}  // namespace vantage::probe
