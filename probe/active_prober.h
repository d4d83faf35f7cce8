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
// ends with nothing in flight, sent == received + lost. A probe that could
// not be sent (send error, TCP port pool exhausted) is not counted as sent
// but in ProberCounters; nothing is dropped without a count.
//
// In-flight table: flat, no hashing or allocation per probe. Every flow owns
// a ring of 8-byte slots indexed by the low bits of its sequence number,
// sized (a power of two) to hold every probe the flow sends within
// Options::memory at its interval. A slot holds the probe's 16-bit sequence,
// its state, its TCP pool port and the low 40 bits of its request's capture
// time in ns (RTTs are differences of capture times, so 40 bits — 18 minutes
// — suffice; memory is capped at 5 min). A probe still pending when its
// flow's sequence comes round to its slot is given up: lost, and counted in
// ProberCounters::evicted.
//
// Timeouts and forgetting: every probe sent is appended to one send log (a
// FIFO of 8-byte entries, with one time marker per send batch), in send
// order, so it is both the timeout queue and the forget queue. A probe is
// declared lost at send + timeout + capture_grace; a resolved probe is
// remembered until send + Options::memory: a reply or a copy arriving by then
// is classified as late (after the timeout) or duplicate, never as stale or
// forged; afterwards it is stale. The log's size is rate × memory entries, so
// memory costs 8 bytes per probe per second of memory, shared by all targets.
//
// TCP 5-tuples: a SYN is never sent on a (source port, target) tuple that
// still has a probe in flight — the target's kernel would take it for a
// retransmission of the half-open connection and drop it. Each flow has a
// pool of kTcpPortsPerFlow source ports and takes the lowest free one (so a
// flow probing slower than its RTT keeps one 5-tuple, Paris-style); when all
// are in flight the probe is not sent and counted in
// ProberCounters::tcp_ports_exhausted.
//
// Sending is batched: due probes are built into a batch and handed to
// ProbeSender::SendBatch (sendmmsg); captures arrive in batches from the
// source (a TPACKET_V3 ring: no system call per packet, and the kernel's
// capture timestamps come with the packets).
//
// Memory (Memory(): summed from the capacities of what is allocated): per
// target its tables (~180 bytes with the codec's and the scheduler's); per
// flow the open window's RTTs as an RttHistogram (4 bytes per RTT bucket
// that holds a sample; a full QuantileSketch only if a 16-bit count would
// overflow) and its ring (8 bytes per slot); and the send log, 8 bytes × rate
// × memory shared by all. At 10,000 targets probed at 100,000-200,000
// probes/s with a 500 ms timeout and memory 2 × timeout + grace = 1.1 s
// (PingSession's configuration) the total is under 800 bytes per target
// (tests/probe/active_prober_test.cc); at 300,000 probes/s the rings double
// (33 ms interval) and it is ~1.1 KiB.
//
// Thread model: everything runs on the EventLoop's thread; the prober is not
// synchronised. Time comes from the injected Clock (FakeClock in tests).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "core/quantile_sketch.h"
#include "probe/internal/ring_queue.h"
#include "probe/ip_packet_view.h"
#include "probe/packet_source.h"
#include "probe/probe_codec.h"
#include "probe/probe_scheduler.h"
#include "probe/probe_sender.h"
#include "probe/rtt_histogram.h"
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
  uint64_t evicted = 0;              // pending probes given up for a full ring (also lost)
  uint64_t tcp_ports_exhausted = 0;  // TCP probes not sent: every port of the flow in flight
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
    // the kernel before it is declared lost, and how long after its send a
    // probe is remembered (for duplicates and late replies; at least
    // timeout + capture_grace, at most 5 min). Memory costs 8 bytes per probe
    // per second at the probe rate, and per flow ring slots for its interval.
    absl::Duration capture_grace = absl::Milliseconds(100);
    absl::Duration memory = absl::Seconds(5);
    double max_pps = 10'000;
    double bucket_burst = 100;
    // The timer wakes the prober at most once per this period, sending what
    // fell due meanwhile in one batch (thousands of targets on random
    // phases would otherwise wake it for every round). It delays sends and
    // loss decisions by up to this much; RTTs come from capture timestamps
    // and are unaffected.
    absl::Duration timer_coalescing = absl::Milliseconds(1);
    // At high rates the period above grows so that about this many probes
    // leave per wake-up (0: a fixed period), up to a quarter of the shortest
    // target interval and kMaxCoalescing. The first probe sent after the
    // prober (and the CPU) sat idle takes the kernel's cold path and comes
    // back several us slower; in larger batches fewer probes are first, so
    // the RTT spread (p99 - p50) shrinks, and there are fewer wake-ups.
    uint32_t coalesce_probes = 256;
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

  // Optional, before adding `count` targets at Options::interval: allocates
  // their tables at once (no growth slack).
  void ReserveTargets(size_t count);

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
  // Probes pending or remembered (occupied in-flight slots).
  size_t in_flight() const { return occupied_; }
  // The local address probes to `target` leave from.
  const IpAddress& SourceAddress(uint32_t target) const {
    return source_addresses_[targets_[target].source_index];
  }
  // The wake-up period in use: Options::timer_coalescing, grown by
  // Options::coalesce_probes for the targets' rate.
  absl::Duration coalescing() const { return coalescing_; }
  // From the first to the last probe sent (monotonic), for rate figures.
  absl::Duration send_span() const { return last_send_ - first_send_; }
  const ProbeCodec& codec() const { return *codec_; }
  // The bytes the prober holds now, summed from the capacities of its
  // allocations (not the allocator's own headers), by part.
  struct MemoryUsage {
    size_t tables = 0;      // the prober object, targets, flows, codec, scheduler
    size_t statistics = 0;  // the open window's RTT sketches and error counters
    size_t in_flight = 0;   // the flows' rings of slots
    size_t send_log = 0;    // probes sent (timeouts, forgetting)
    // Rounds due but not sent yet (waiting for tokens or, when the schedule
    // asks for more than the CPU sends, for the CPU): the backlog of an
    // overload, which grows with its size and length, not with the targets.
    size_t backlog = 0;
    size_t total() const { return tables + statistics + in_flight + send_log + backlog; }
    // Without the backlog: what the targets themselves hold.
    size_t per_target_state() const { return tables + statistics + in_flight + send_log; }
  };
  MemoryUsage Memory() const;
  // Memory().total() / targets (0 without targets): for the 1 KiB budget.
  size_t BytesPerTarget() const;

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
    uint32_t busy_ports = 0;  // TCP: pool ports with a probe pending (kept across windows)
    int64_t min_rtt_ns = -1;
    int64_t max_rtt_ns = -1;
    // RTTs: compact until it refuses a sample, then the full sketch.
    RttHistogram rtt;
    std::unique_ptr<QuantileSketch> rtt_us;
    std::unique_ptr<std::array<uint32_t, kIcmpErrorKinds>> errors;
    std::unique_ptr<StampStats> stamp;
  };
  enum class ProbeState : uint8_t { kEmpty, kPending, kReceived, kLost, kLateReceived };
  // Bits 0..39: the low 40 bits of the request's capture time in ns (0 =
  // not captured yet; a time whose low bits are 0 is stored as 1 ns later);
  // 40..55: the probe's sequence (the 16 bits packets carry); 56..58: its
  // state; 59..63: TCP: the pool port it holds while pending.
  class Slot {
   public:
    static constexpr int kWireBits = 40;
    static constexpr uint64_t kWireMask = (uint64_t{1} << kWireBits) - 1;
    Slot() = default;
    Slot(uint16_t seq16, ProbeState state, uint8_t port)
        : bits_(uint64_t{seq16} << 40 | uint64_t{static_cast<uint8_t>(state)} << 56 |
                uint64_t{port} << 59) {}
    uint64_t wire() const { return bits_ & kWireMask; }
    uint16_t seq16() const { return static_cast<uint16_t>(bits_ >> 40); }
    ProbeState state() const { return static_cast<ProbeState>(bits_ >> 56 & 7); }
    uint8_t port() const { return static_cast<uint8_t>(bits_ >> 59); }
    void set_state(ProbeState state) {
      bits_ = (bits_ & ~(uint64_t{7} << 56)) | uint64_t{static_cast<uint8_t>(state)} << 56;
    }
    void set_wire(int64_t capture_ns) {
      uint64_t low = static_cast<uint64_t>(capture_ns) & kWireMask;
      if (low == 0) low = 1;
      bits_ = (bits_ & ~kWireMask) | low;
    }
    // `capture_ns` − the request's capture time, for differences within
    // ±2^39 ns (9 min).
    int64_t Since(int64_t capture_ns) const {
      const uint64_t d = (static_cast<uint64_t>(capture_ns) - wire()) & kWireMask;
      return d >= (uint64_t{1} << 39) ? static_cast<int64_t>(d) - (int64_t{1} << 40)
                                      : static_cast<int64_t>(d);
    }

   private:
    uint64_t bits_ = 0;
  };
  static_assert(sizeof(Slot) == 8);
  struct QueuedRound {
    uint32_t target;
    uint32_t remaining;
    bool waited;
  };
  // A send log entry: a time marker (top bit set, monotonic ns of the batch
  // sent after it) or a probe (target << 20 | flow << 16 | seq16).
  static constexpr uint64_t kMarker = uint64_t{1} << 63;
  struct TargetState {
    uint32_t ring_offset = 0;  // into slots_
    uint8_t ring_bits = 0;     // slots per flow = 1 << ring_bits
    uint8_t source_index = 0;  // into source_addresses_
    uint8_t next_flow = 0;
    bool tcp = false;  // probes hold a pool port while pending
  };
  // A probe in the send batch, for the bookkeeping once it has left.
  struct Prepared {
    uint32_t target;
    uint16_t seq16;
    uint8_t flow;
  };
  static constexpr size_t kSendBatch = 64;
  static constexpr absl::Duration kMaxCoalescing = absl::Milliseconds(10);

  ActiveProber(Options options, EventLoop* loop, const Clock* clock, ProbeSender* sender,
               std::unique_ptr<ProbeCodec> codec, std::vector<uint16_t> stamp_ports);

  Slot& SlotFor(uint32_t target, uint8_t flow, uint32_t seq) {
    const TargetState& ts = targets_[target];
    const uint32_t mask = (1u << ts.ring_bits) - 1;
    return slots_[ts.ring_offset + (static_cast<uint32_t>(flow) << ts.ring_bits) + (seq & mask)];
  }
  // The slot of a probe named by a packet (seq16 only), if it still holds it.
  Slot* FindSlot(uint32_t target, uint8_t flow, uint16_t seq16) {
    Slot& slot = SlotFor(target, flow, seq16);
    if (slot.state() == ProbeState::kEmpty || slot.seq16() != seq16) return nullptr;
    return &slot;
  }
  FlowStats& Flow(uint32_t target, uint8_t flow) {
    return flows_[static_cast<size_t>(target) * static_cast<size_t>(options_.flows) + flow];
  }
  QuantileSketch NewSketch() const {
    return QuantileSketch(options_.sketch_alpha, options_.sketch_max_bins);
  }
  // Builds the target's next probe into the batch; false if it cannot be sent.
  bool Prepare(uint32_t target, absl::Time now_wall);
  void FlushBatch(absl::Time now_mono);
  void ExpireUntil(int64_t now_mono_ns);
  static int64_t MarkerTime(uint64_t entry) { return static_cast<int64_t>(entry & ~kMarker); }
  int64_t ExpireAfterNs() const {
    return absl::ToInt64Nanoseconds(options_.timeout + options_.capture_grace);
  }
  int64_t MemoryNs() const { return absl::ToInt64Nanoseconds(options_.memory); }
  void Resolve(uint32_t target, uint8_t flow, Slot& probe, ProbeState state);
  uint8_t RingBits(absl::Duration interval) const;
  void OnReply(absl::Time timestamp, const PacketClassification& c);
  void AddRtt(FlowStats& fs, int64_t rtt_ns);
  void OnIcmpError(const PacketClassification& c);
  void ArmTimer();
  void UpdateCoalescing();

  Options options_;
  EventLoop* loop_;
  const Clock* clock_;
  ProbeSender* sender_;
  std::unique_ptr<ProbeCodec> codec_;
  std::vector<uint16_t> stamp_ports_;
  QuantileSketch sketch_params_;  // Options' alpha and max_bins, for bucket indices
  ProbeScheduler scheduler_;
  TokenBucket bucket_;
  bool local_synchronized_ = false;
  uint16_t error_estimate_ = 0;
  bool started_ = false;

  std::vector<TargetState> targets_;
  std::vector<FlowStats> flows_;
  std::vector<IpAddress> source_addresses_;

  std::vector<Slot> slots_;
  size_t occupied_ = 0;
  // The send log (see the header): entries from the front to expire_next_
  // have had their timeout; expire_time_ns_ / forget_time_ns_ are the
  // markers in force at expire_next_ and at the front.
  RingQueue<uint64_t> sent_log_;
  size_t expire_next_ = 0;
  int64_t expire_time_ns_ = 0;
  int64_t forget_time_ns_ = 0;
  std::array<OutgoingProbe, kSendBatch> batch_;
  std::array<Prepared, kSendBatch> prepared_;
  std::array<bool, kSendBatch> batch_ok_{};
  size_t batch_size_ = 0;
  uint64_t pending_ = 0;
  RingQueue<QueuedRound> queue_;

  struct SourceEntry {
    PacketSource* source;
    Decoder decode;
  };
  std::vector<SourceEntry> sources_;
  std::optional<EventLoop::TimerId> timer_;
  absl::Time timer_at_ = absl::InfiniteFuture();
  absl::Time last_run_ = absl::InfinitePast();  // monotonic, of the last RunDue
  // The wake-up period in use (Options::timer_coalescing, grown at Start()
  // by Options::coalesce_probes), from the schedule's rate and intervals.
  absl::Duration coalescing_ = absl::ZeroDuration();
  double scheduled_rate_ = 0;  // probes per second, over all targets
  absl::Duration shortest_interval_ = absl::InfiniteDuration();
  ProberCounters counters_;
  absl::Time first_send_ = absl::InfiniteFuture();
  absl::Time last_send_ = absl::InfiniteFuture();
};

}  // namespace vantage::probe
