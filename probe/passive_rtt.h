// PassiveRtt: round-trip times measured from the TCP traffic already passing
// the capture point, as pping and Wireshark do, without sending a packet:
//
//  * Handshake: SYN -> SYN-ACK (the round trip to the SYN-ACK's sender) and
//    SYN-ACK -> the ACK completing the handshake (the round trip to the
//    initiator). Karn's rule: a retransmitted SYN (SYN-ACK) gives no
//    SYN -> SYN-ACK (SYN-ACK -> ACK) sample.
//  * Timestamp echo (RFC 7323, as pping): the first packet carrying a TSval
//    in one direction, matched with the first packet of the other direction
//    echoing it as TSecr. Both directions; pending TSvals are bounded per
//    flow and expire after tsval_max_age; optional per-flow-direction rate
//    limit.
//  * SEQ/ACK, only for flows without timestamps: a data segment's end
//    sequence matched with the first ACK acknowledging exactly that; under
//    Karn's rule, retransmitted data invalidates the pending segments it
//    covers. Sequence arithmetic wraps (RFC 1982).
//
// Every sample says which end answered: RttLeg::kClient when the round trip
// went from the capture point to the client and back (the network path we
// care about), kServer when it went to our own side. Which side is ours is
// configured (local prefixes / ports); otherwise the SYN's sender is the
// client, and, for flows seen without their SYN, the higher port.
//
// Privacy: the flow table holds full addresses (to match packets) but
// nothing leaves this class with one: samples and traffic carry the client
// prefix from a ClientPrefixer (aggregated, pseudonymised when keyed). Only
// `expose_client_addresses` (on-box debugging: `vantagectl pcap-rtt
// --per-sample`, refused together with a key) adds them to samples. No
// payload byte is read.
//
// A flow leaves the table when both FINs are acknowledged, on RST, or after
// flow_idle_timeout without packets.
//
// Per-packet cost: IPv4/TCP packets are parsed in one pass straight into
// the few fields used (PacketDecoder::DecodeTcpSegment; anything else takes
// the general decoder); the flow table is open addressing on a
// multiply-xorshift hash of the direction-folded 5-tuple, with flows in a
// slab (no per-packet allocation, no per-packet expiry work: idle flows are
// swept every sweep_interval of packet time); times are int64 nanoseconds;
// a flow's client prefix (and pseudonym) is computed once per flow; and —
// for sinks that only aggregate (PassiveRttSink::batches_samples) — up to
// kSampleBatch samples per flow are buffered and handed over together with
// the flow's traffic in one call (OnFlowReport), so the sink looks its
// per-prefix state up once per flow report, not once per sample. Reading a
// source through DispatchFrom (what the daemon and pcap-rtt do) batches
// the packets: libpcap's callback calls straight into PassiveRtt (no
// std::function), each packet is decoded into a batch of kBatchSize (its
// flow-table slot prefetched). When a batch is full, the batch before it is
// processed (its packets' sample lines prefetched, then the packets in
// order, each followed by the prefetch of one flow entry of the full
// batch), and the full one is processed when the next batch is full. Both
// batches are empty whenever DispatchFrom returns. A flow's entry is 4
// cache lines; a packet of an established timestamped IPv4 flow (the fast
// path) reads and writes only its first 2 (kHotLines), which hold the key,
// the counters, the flags and the first two pending values per direction.
//
// Memory is bounded: at most max_flows flows (idle ones are evicted; when
// the table is full of live flows, new flows are counted and ignored), at
// most max_pending_per_direction pending TSvals / segments per direction
// (two in the entry, more on the heap), at most kSampleBatch buffered
// samples per flow (batching sinks only, in a side array beside the
// entries, so that the entries stay small when many flows are live): 0.5 KiB
// per flow slot (plus 24 bytes for IPv6 flows' keys and 24 with the rate
// limit, also in side arrays), plus 16 bytes of hash table per flow (at most
// half full). The entries (and sample buffers) of min(max_flows,
// reserved_flows) flows are reserved up front as address space, committed
// only as flows first use them (in huge pages where the kernel grants
// them), so up to that many flows entries never move.
//
// Thread model: one thread (the probe's EventLoop); not synchronised.
// Packet times must be non-decreasing per capture (they are for one pcap
// source); time only advances from packet timestamps, never from a clock.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/ip_address.h"
#include "probe/client_prefixer.h"
#include "probe/packet_decoder.h"
#include "probe/packet_source.h"

namespace vantage::probe {

enum class RttMethod : uint8_t { kHandshake = 0, kTimestamp = 1, kSeqAck = 2 };
inline constexpr int kRttMethodCount = 3;
const char* RttMethodName(RttMethod method);

// Which end of the flow answered, closing the measured round trip.
enum class RttLeg : uint8_t { kClient = 0, kServer = 1 };
inline constexpr int kRttLegCount = 2;
const char* RttLegName(RttLeg leg);

struct RttSample {
  absl::Time time;  // capture time of the packet that closed the sample
  absl::Duration rtt;
  RttMethod method = RttMethod::kHandshake;
  RttLeg leg = RttLeg::kClient;
  Prefix client_prefix;  // aggregated; pseudonymised when keyed
  uint64_t flow_id = 0;  // sequential per PassiveRtt, for correlating samples
  Endpoint server;       // our side
  uint16_t client_port = 0;
  // Only with PassiveRttOptions::expose_client_addresses.
  std::optional<IpAddress> client_address;
};

// One sample of a batch (PassiveRttSink::OnSampleBatch): all samples of a
// batch belong to one flow, hence to one client prefix. 16 bytes: the RTT
// shares a word with the method and leg (RTTs saturate at 2^55 ns, over a
// year).
class FlowRttSample {
 public:
  static constexpr int64_t kMaxRttNs = (int64_t{1} << 55) - 1;

  FlowRttSample() = default;
  // Inline always: a few instructions, which PassiveRtt's slow path (a large
  // function) would otherwise call out of line for each sample.
  ABSL_ATTRIBUTE_ALWAYS_INLINE FlowRttSample(int64_t time_ns, int64_t rtt_ns, RttMethod method,
                                             RttLeg leg)
      : time_ns_(time_ns),
        packed_(static_cast<uint64_t>(std::clamp<int64_t>(rtt_ns, 0, kMaxRttNs)) << 8 |
                static_cast<uint64_t>(method) << 1 | static_cast<uint64_t>(leg)) {}

  // The constructor for an `rtt_ns` already in [0, kMaxRttNs] (no clamp).
  ABSL_ATTRIBUTE_ALWAYS_INLINE static FlowRttSample InRange(int64_t time_ns, int64_t rtt_ns,
                                                            RttMethod method, RttLeg leg) {
    FlowRttSample sample;
    sample.time_ns_ = time_ns;
    sample.packed_ = static_cast<uint64_t>(rtt_ns) << 8 | static_cast<uint64_t>(method) << 1 |
                     static_cast<uint64_t>(leg);
    return sample;
  }

  // Capture time of the packet that closed the sample, Unix nanoseconds.
  int64_t time_ns() const { return time_ns_; }
  int64_t rtt_ns() const { return static_cast<int64_t>(packed_ >> 8); }
  RttMethod method() const { return static_cast<RttMethod>((packed_ >> 1) & 0x7f); }
  RttLeg leg() const { return static_cast<RttLeg>(packed_ & 1); }
  // method * kRttLegCount + leg: the index of the sample's (method, leg)
  // series, straight from the packing.
  size_t series() const { return static_cast<size_t>(packed_ & 0xff); }

 private:
  int64_t time_ns_ = 0;
  uint64_t packed_ = 0;
};

// Receives what PassiveRtt produces. Called synchronously from OnPacket,
// Flush and SetAnonymizationKey.
class PassiveRttSink {
 public:
  virtual ~PassiveRttSink() = default;
  // Every sample, as it is taken (sinks that don't batch).
  virtual void OnSample(const RttSample& sample) = 0;
  // Sinks that only aggregate return true (read once, at Create): samples
  // then arrive through OnSampleBatch instead of OnSample, at most
  // kSampleBatch at a time, in time order per flow, when a flow's buffer is
  // full, when the flow ends, at every sweep (sweep_interval of packet
  // time) and on Flush() — so, like OnTraffic, up to sweep_interval late.
  virtual bool batches_samples() const { return false; }
  // The default hands each sample to OnSample (without flow, server and
  // port, which batches don't carry).
  virtual void OnSampleBatch(const Prefix& client_prefix, absl::Span<const FlowRttSample> samples);
  // A new flow toward `client_prefix` was seen at `time`. Sinks that batch
  // get it with the flow's first report (traffic, samples), i.e. up to
  // sweep_interval late but with the time the flow was first seen.
  virtual void OnFlow(absl::Time time, const Prefix& client_prefix) = 0;
  // Traffic of one tracked flow (both directions) since its last report:
  // `ip_bytes` sums IP lengths on the wire. Reported per flow at every sweep
  // (sweep_interval of packet time), when the flow ends, and on Flush(), so
  // `time` (the flow's last packet) may lag a packet by up to sweep_interval.
  virtual void OnTraffic(absl::Time time, const Prefix& client_prefix, uint64_t packets,
                         uint64_t ip_bytes) = 0;

  // A batching sink's per-flow report, all at once: the new flow (when
  // `new_flow`), then its buffered samples (when any), then its traffic
  // (when `packets` > 0). The default makes the three calls above; the
  // aggregator finds its per-prefix state once for all three. The samples
  // are in the order they closed, so their times are non-decreasing when
  // the packets' are (PassiveRtt's precondition): the aggregator checks the
  // window of the first and last only (with packet times out of order
  // inside one report, a sample between them may count in their window
  // rather than its own).
  struct FlowReport {
    const Prefix* client_prefix = nullptr;
    bool new_flow = false;
    int64_t first_seen_ns = 0;  // OnFlow's time
    absl::Span<const FlowRttSample> samples;
    int64_t last_seen_ns = 0;  // OnTraffic's time
    uint64_t packets = 0;
    uint64_t ip_bytes = 0;
  };
  virtual void OnFlowReport(const FlowReport& report);
};

struct PassiveRttOptions {
  // Our side: addresses inside these prefixes, or (when no prefix matches
  // either end) these server ports.
  std::vector<Prefix> local_prefixes;
  std::vector<uint16_t> local_ports;
  int client_prefix_length_v4 = 24;
  int client_prefix_length_v6 = 48;
  size_t max_flows = 100000;  // at most 2^30
  absl::Duration flow_idle_timeout = absl::Seconds(300);
  absl::Duration tsval_max_age = absl::Seconds(10);
  // Per flow and direction: TSvals (or segments) are recorded at most once
  // per interval; 0 records every new one.
  absl::Duration min_sample_interval = absl::ZeroDuration();
  size_t max_pending_per_direction = 32;
  // Flow entries reserved up front as address space (at most max_flows;
  // pages are committed only as flows first use them): up to this many live
  // flows, entries never move. Past it the slab grows by reallocation,
  // moving every entry.
  size_t reserved_flows = size_t{1} << 20;
  // Idle flows are swept when packet time has advanced this much.
  absl::Duration sweep_interval = absl::Seconds(1);
  // Debugging only: full client addresses in samples. Incompatible with a
  // pseudonymisation key.
  bool expose_client_addresses = false;
  // Every packet through the general state machine, none through the fast
  // path for established timestamped flows nor the shortcut for the SYN
  // that creates a flow: for checking that both agree (tests) and for A/B
  // runs (passive_rtt_bench --general-path).
  bool general_path_only = false;
};

struct PassiveRttStats {
  uint64_t packets = 0;  // all packets offered
  uint64_t tcp_packets = 0;
  uint64_t non_tcp_packets = 0;
  DecodeCounters decode;  // kOk and every failure reason
  uint64_t flows_created = 0;
  uint64_t flows_evicted_idle = 0;
  uint64_t flows_closed = 0;         // FIN exchange done, RST, or a new connection on the tuple
  uint64_t flows_rejected_full = 0;  // packets of new flows while the table was full
  uint64_t pending_evicted = 0;      // TSvals / segments dropped: per-direction bound
  uint64_t pending_expired = 0;      // pending TSvals / segments older than tsval_max_age
  uint64_t karn_discarded = 0;       // samples withheld by Karn's rule
  uint64_t rate_limited = 0;         // TSvals / segments not recorded (rate limit)
  std::array<uint64_t, kRttMethodCount> samples{};
  // From the capture source (UpdateCaptureStats).
  uint64_t capture_kernel_dropped = 0;
  uint64_t capture_interface_dropped = 0;
};

class PassiveRtt {
 public:
  // Samples buffered per flow for batching sinks.
  static constexpr size_t kSampleBatch = 16;
  // Packets decoded before they are processed together (DispatchFrom).
  static constexpr size_t kBatchSize = 8;
  // Live flows from which DispatchFrom prefetches the lines samples go to
  // (their buffers, kSampleBatch * 16 bytes each, then outgrow the L2 cache).
  static constexpr size_t kPrefetchSamplesAbove = 2048;
  // Cache lines of a flow's entry the fast path touches (key and hot part).
  static constexpr size_t kHotLines = 2;

  // `sink` must outlive this object.
  static absl::StatusOr<std::unique_ptr<PassiveRtt>> Create(const PassiveRttOptions& options,
                                                            PassiveRttSink* sink);
  PassiveRtt(const PassiveRtt&) = delete;
  PassiveRtt& operator=(const PassiveRtt&) = delete;

  // Enables client-prefix pseudonyms or rotates their key (32 bytes).
  // Existing flows switch to the new pseudonyms.
  absl::Status SetAnonymizationKey(absl::string_view key);

  // Decodes and processes one captured packet.
  void OnCapturedPacket(const CapturedPacket& packet);
  // OnCapturedPacket as a PacketSource::PacketFunction, `passive_rtt` the
  // PassiveRtt: source->DispatchTo(n, &PassiveRtt::Receive, passive_rtt).
  static void Receive(void* passive_rtt, const CapturedPacket& packet);
  // Reads up to `max_packets` packets from `source` (all waiting, if <= 0)
  // and processes them as OnCapturedPacket would, in the same order, but
  // in batches: kBatchSize TCP packets are decoded and their flows' memory
  // prefetched before they are processed, so that cache misses on the flow
  // table overlap. Every packet read has been processed (and counted in
  // stats(): some counts are only brought up to date at the end) when it
  // returns. Returns what source->DispatchTo returns.
  absl::StatusOr<int> DispatchFrom(PacketSource* source, int max_packets);
  // Processes an already decoded packet (status kOk).
  void OnDecodedPacket(absl::Time time, const DecodedPacket& packet);
  // The same with the capture time in Unix nanoseconds.
  void OnDecodedPacketNs(int64_t time_ns, const DecodedPacket& packet);
  // The same for a TCP segment's fields (PacketDecoder::DecodeTcpSegment).
  void OnTcpSegment(int64_t time_ns, const TcpSegmentFields& segment);
  void UpdateCaptureStats(const CaptureStats& stats);
  // Reports every flow's pending traffic counts and batched samples to the
  // sink (call before taking completed windows, and at the end of a capture).
  void Flush();

  const PassiveRttStats& stats() const { return stats_; }
  size_t flow_count() const { return live_flows_; }
  const ClientPrefixer& prefixer() const { return prefixer_; }

 private:
  // Both endpoints in canonical order (see MakeKey), as machine words: the
  // flow lookup is the per-packet hot path, so hashing and comparing are a
  // few word operations (inline, for the table's probe loop). An IPv4 key
  // is two words (`word` and `meta`; `v6` is not read), so that the common
  // case stores, hashes and compares two words rather than five.
  struct FlowKey {
    // IPv4: side 0's address | side 1's << 32 (each 4 bytes as in memory).
    // IPv6: side 0's bytes 0-7.
    uint64_t word;
    uint64_t meta;  // port[0] | port[1] << 16 | family << 32
    // IPv6 only: side 0's bytes 8-15, side 1's bytes 0-7 and 8-15.
    uint64_t v6[3];
    bool v4() const { return static_cast<uint8_t>(meta >> 32) == 4; }
    uint16_t port(int side) const { return static_cast<uint16_t>(meta >> (16 * side)); }
    IpAddress Address(int side) const;
  };
  // Multiplicative: the table takes the top bits of the result, which
  // every bit of both words reaches.
  static uint64_t HashV4(uint64_t word, uint64_t meta) {
    return word * 0x9e3779b97f4a7c15ULL ^ meta * 0xff51afd7ed558ccdULL;
  }
  static uint64_t HashKey(const FlowKey& k) {
    if (k.v4()) return HashV4(k.word, k.meta);
    const uint64_t a = k.word ^ (k.v6[1] << 32 | k.v6[1] >> 32);
    const uint64_t b = k.v6[0] ^ (k.v6[2] << 32 | k.v6[2] >> 32);
    uint64_t h =
        a * 0x9e3779b97f4a7c15ULL ^ b * 0xc2b2ae3d27d4eb4fULL ^ k.meta * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    return h * 0xd6e8feb86659fd93ULL;
  }
  // A pending value beyond a direction's first two (PendingSpill).
  struct Pending {
    uint32_t value;   // TSval, or a segment's end sequence
    int64_t time_ns;  // when it was first seen
  };
  // A direction's first two pending values, in the entry's hot part (most
  // flows never have more than one pending): 32 bytes.
  struct PendingHead {
    uint32_t size = 0;            // all of the direction's pending values
    uint32_t spill_capacity = 0;  // its PendingSpill's
    uint32_t value[2] = {0, 0};
    int64_t time_ns[2] = {0, 0};
  };
  // A direction's pending values from the third on: a heap array owned by
  // the entry's cold part (only flows with more than two pending touch it).
  // No pointer into the entry: entries move when entries_ grows.
  class PendingSpill {
   public:
    PendingSpill() = default;
    PendingSpill(PendingSpill&& other) noexcept : data_(std::exchange(other.data_, nullptr)) {}
    PendingSpill& operator=(PendingSpill&&) = delete;
    ~PendingSpill() { delete[] data_; }
    Pending* data() const { return data_; }
    // A new array of `capacity` values, the first `keep` copied.
    void Regrow(uint32_t capacity, uint32_t keep);
    void Release() {
      delete[] data_;
      data_ = nullptr;
    }

   private:
    Pending* data_ = nullptr;
  };
  // A direction's pending values, oldest first (a view of its PendingHead
  // and PendingSpill): values 0 and 1 in the head, 2.. in the spill. Only
  // what the flow logic needs; the first two cost no pointer chase.
  class PendingList {
   public:
    PendingList(PendingHead* head, PendingSpill* spill) : head_(head), spill_(spill) {}
    uint32_t size() const { return head_->size; }
    bool empty() const { return head_->size == 0; }
    uint32_t front_value() const { return head_->value[0]; }
    int64_t front_time_ns() const { return head_->time_ns[0]; }
    uint32_t value(size_t i) const { return i < 2 ? head_->value[i] : spill_->data()[i - 2].value; }
    int64_t time_ns(size_t i) const {
      return i < 2 ? head_->time_ns[i] : spill_->data()[i - 2].time_ns;
    }
    void clear() { head_->size = 0; }
    // Keeps the first n (<= size()).
    void Truncate(size_t n) { head_->size = static_cast<uint32_t>(n); }
    // Drops the first n (<= size()).
    void PopFront(size_t n);
    void PushBack(uint32_t value, int64_t time_ns) {
      const uint32_t n = head_->size;
      if (n < 2) {
        head_->value[n] = value;
        head_->time_ns[n] = time_ns;
      } else {
        PushSpill(value, time_ns);
      }
      head_->size = n + 1;
    }
    // Empties the list and frees its spill (a spill has memory only with a
    // capacity, read from the head: no access to the spill's line without).
    void Release() {
      if (head_->spill_capacity != 0) spill_->Release();
      head_->size = 0;
      head_->spill_capacity = 0;
    }

   private:
    void Set(size_t i, uint32_t value, int64_t time_ns);
    void PushSpill(uint32_t value, int64_t time_ns);
    PendingHead* head_;
    PendingSpill* spill_;
  };
  // Per direction: packets sent by side `d`. Times are Unix nanoseconds.
  // The rest of a direction's state is its Close, the pending values and
  // TSvals in the flow's hot part, the rate limit's in rate_limits_.
  struct Direction {
    int64_t syn_time_ns = 0;
    uint32_t next_seq = 0;  // highest end sequence sent
    uint32_t syn_seq = 0;
    int32_t syn_count = 0;  // SYNs (or SYN-ACKs) sent by this side
    bool seq_seen = false;
    bool syn_timestamps = false;  // its first SYN carried the timestamp option
  };
  // Per direction, its close: this side's FIN and the sequence number just
  // after it. Beside the client prefix on the entry's third line, so that
  // closing a flow (its last ACK) reads no fourth line.
  struct Close {
    uint32_t fin_next = 0;
    bool fin_seen = false;
    bool fin_acked = false;
  };
  // A slab entry's state: a flow and its key, all of it but the pending
  // spills (every field of a flow belongs here, except what owns memory,
  // in Flow). Free entries have live == false. Its hot part, everything the
  // fast path (Process, TimestampEcho) reads or writes for an IPv4 flow and
  // the flags every packet's path reads, fills the first kHotLines lines
  // exactly (the only ones PrefetchEntry prefetches for a packet that may
  // take the fast path). Insert resets only what a new flow reads before
  // writing it: a value guarded by a count or flag (a pending value beyond
  // `size`, a TSval while !ts_seen, a SYN's fields while syn_count == 0,
  // fin_next while !fin_seen, next_seq while !seq_seen) keeps the entry's
  // previous flow's until written. Keep it so when adding a field (test:
  // PassiveRttFlowTest.ReusedEntriesBehaveAsFreshOnes).
  struct FlowState {
    // Hot. The key's first two words (all of an IPv4 key; FlowKey), the
    // rest of an IPv6 key in keys_v6_.
    uint64_t key_word = 0;
    uint64_t key_meta = 0;
    int64_t last_seen_ns = 0;
    uint64_t unreported_packets = 0;
    uint64_t unreported_bytes = 0;
    uint32_t tag = 0;                 // the top 32 bits of HashKey(key)
    uint32_t last_tsval[2] = {0, 0};  // per side, its newest TSval (when ts_seen)
    bool live = false;
    bool ts_seen[2] = {false, false};
    uint8_t client_side = 0;  // index into FlowKey of the client
    // Packets without SYN, FIN or RST that carry timestamps take the fast
    // path (Process): the handshake is done or was never seen, the flow uses
    // timestamps, and neither side has sent a FIN. Set by ProcessSlow.
    bool fast = false;
    uint8_t sample_count = 0;  // buffered in sample_buffers_ (batching sinks)
    int8_t initiator = -1;     // side that sent the first SYN, -1 if unseen
    bool handshake_done = false;
    // -1 unknown, 0 no, 1 yes: decided by the handshake, else the first packet.
    int8_t uses_timestamps = -1;
    bool flow_unreported = false;  // OnFlow still due (batching sinks)
    // Per side, ascending (serial order): TSvals or segment ends; the first
    // two here, more in Flow::pending_spill.
    PendingHead pending_head[2];

    // Cold: first what closing a flow reads (with the hot part), then the
    // rest of the handshake and SEQ/ACK state.
    uint64_t id = 0;
    int64_t first_seen_ns = 0;
    Prefix client_prefix;  // computed once per flow (pseudonym included)
    Close close[2];
    Direction dir[2];
  };
  // A slab entry, 4 cache lines, aligned so that the hot ones are one
  // 128-byte pair: the state, then the pending values' heap arrays (empty
  // in free entries: Erase releases them).
  struct alignas(128) Flow : FlowState {
    PendingSpill pending_spill[2];

    PendingList pending(int side) { return {&pending_head[side], &pending_spill[side]}; }
  };
  // The rate limit's state of one flow (rate_limits_, only with
  // min_sample_interval).
  struct RateLimit {
    int64_t last_recorded_ns[2] = {0, 0};  // per side, valid when recorded_any
    bool recorded_any[2] = {false, false};
  };
  // A batching sink's buffered samples of one flow (sample_buffers_).
  using SampleBuffer = std::array<FlowRttSample, kSampleBatch>;

  // Open addressing, linear probing, at most half full; entry 0 = empty.
  struct Slot {
    uint32_t tag;
    uint32_t entry;  // index into entries_ + 1
  };

  // The fields of a TCP segment the flow logic reads (its addresses and
  // ports are in the FlowKey).
  // The numbers in pairs, as TimestampedTcpSegment's words: {ack, seq} and
  // {tsecr, tsval} are stored as one word each.
  struct Segment {
    uint32_t ack;
    uint32_t seq;
    uint32_t tsecr;
    uint32_t tsval;
    uint32_t payload_length;
    uint32_t ip_length;
    uint8_t flags;
    bool has_timestamps;
    static Segment Of(const TcpSegmentFields& f) {
      return Segment{.ack = f.ack,
                     .seq = f.seq,
                     .tsecr = f.tsecr,
                     .tsval = f.tsval,
                     .payload_length = f.payload_length,
                     .ip_length = f.ip_length,
                     .flags = f.flags,
                     .has_timestamps = f.has_timestamps};
    }
  };

  PassiveRtt(const PassiveRttOptions& options, PassiveRttSink* sink);
  // The direction-folded key of a segment, the sending side's index in it,
  // and its hash.
  // kIpv4: the caller knows the segment is IPv4.
  template <bool kIpv4>
  static uint64_t MakeKey(const TcpSegmentFields& packet, FlowKey* key, int* side);
  // MakeKey for an IPv4 segment: its addresses (4 bytes each, as in memory,
  // source | destination << 32) and ports (source << 16 | destination).
  static uint64_t MakeKeyV4(uint64_t addresses, uint32_t ports, FlowKey* key, int* side);
  // A new flow for `key`, which the table does not hold; nullptr when the
  // packet starts nothing worth tracking or the table is full of live flows
  // (counted). `empty_slot` is the empty slot where Find stopped for `key`:
  // the table must not have changed since that Find (one probe per new
  // flow, not two).
  Flow* Create(int64_t time_ns, const Segment& packet, const FlowKey& key, uint64_t hash, int side,
               size_t empty_slot);

  // Everything else (ProcessQueuedSlow has already taken a tracked flow's
  // segments for ContinueTimestamped and AnswerSyn); `entry` is the
  // packet's flow, nullptr when it has none (then `empty_slot` is where
  // Process's Find stopped, the table unchanged since).
  void ProcessSlow(int64_t time_ns, const Segment& tcp, const FlowKey& key, uint64_t hash, int side,
                   Flow* entry, size_t empty_slot);
  void SweepDue(int64_t time_ns);
  // What a queued segment may need, known when it is decoded (bits).
  enum Kind : uint8_t {
    // No SYN, FIN or RST, and timestamps: the fast path, if its flow is
    // established (then only the entry's hot lines are read).
    kMaybeFast = 1,
    kIpv6 = 2,  // the rest of its key is in keys_v6_
  };
  static uint8_t KindOf(const Segment& segment, const FlowKey& key) {
    const bool maybe_fast =
        (segment.flags & (kTcpSyn | kTcpFin | kTcpRst)) == 0 && segment.has_timestamps;
    return static_cast<uint8_t>((maybe_fast ? kMaybeFast : 0) | (key.v4() ? 0 : kIpv6));
  }
  // Marks a Queued::entry_hint (entries are at most max_flows <= 2^30).
  static constexpr uint32_t kNotFastHint = uint32_t{1} << 31;
  // A decoded TCP segment waiting in the batch (DispatchFrom).
  struct Queued {
    int64_t time_ns;
    uint64_t hash;
    FlowKey key;
    Segment segment;
    // The entry its slot held (index + 1), 0 if none yet (PrefetchEntry);
    // | kNotFastHint unless the packet is IPv4 and may take the fast path.
    uint32_t entry_hint;
    // Its home slot when it was queued (the table may grow before the
    // packet's entry is prefetched, never shrink: then a hint is missed).
    uint32_t home_slot;
    uint8_t side;
    uint8_t kind;  // Kind bits
  };
  // One segment (counted by the caller in stats_.tcp_packets): the sweep
  // when due, then its flow (the hinted entry when that holds it)
  // and the fast path, else ProcessSlow.
  void Process(const Queued& q);
  // The fast path of Process: `flow` is the packet's and `fast`.
  void ProcessFast(const Queued& q, int64_t time_ns, Flow* flow);
  // ProcessSlow for a queued segment, out of line (so that the segment's
  // fields need not stay in registers across the fast path). It only picks
  // one of the three below and jumps to it (no frame, no saved registers):
  // each is smaller than all of ProcessSlow, so it saves and spills less.
  ABSL_ATTRIBUTE_NOINLINE void ProcessQueuedSlow(const Queued& q, Flow* entry, size_t empty_slot);
  // ContinueTimestamped for a queued segment (the handshake's ACK, FINs,
  // the last ACK: 4 of an orderly connection's 6 slow packets).
  ABSL_ATTRIBUTE_NOINLINE void ContinueQueued(const Queued& q, Flow* flow);
  // AnswerSyn for a queued SYN-ACK with timestamps, else ProcessQueuedOther.
  ABSL_ATTRIBUTE_NOINLINE void AnswerQueued(const Queued& q, Flow* flow, size_t empty_slot);
  // ProcessSlow for the rest (a new flow's SYN, and anything unusual).
  ABSL_ATTRIBUTE_NOINLINE void ProcessQueuedOther(const Queued& q, Flow* entry, size_t empty_slot);
  static void ReceivePipelined(void* passive_rtt, const CapturedPacket& packet);
  // DispatchFrom's libpcap handlers (PacketSource::DispatchPcap): for an
  // Ethernet source, and for any other.
  static void ReceivePcapEthernet(unsigned char* passive_rtt, const pcap_pkthdr* header,
                                  const unsigned char* bytes);
  static void ReceivePcap(unsigned char* passive_rtt, const pcap_pkthdr* header,
                          const unsigned char* bytes);
  // One packet of the source (dispatch_link_type_) through Enqueue: what
  // PacketDecoder::DecodeEthernetTimestampedTcp leaves, and every packet of
  // a source that is not Ethernet.
  void ReceivePcapOther(const pcap_pkthdr* header, const unsigned char* bytes);
  // Decodes one packet into the batch (processing the batch when full).
  void Enqueue(const CapturedPacket& packet);
  // Enqueue for what PacketDecoder::DecodeTcpSegment leaves.
  void EnqueueOther(const CapturedPacket& packet);
  // Keys a decoded segment into the batch and prefetches its slot (kIpv4:
  // the segment is known to be IPv4).
  template <bool kIpv4>
  void Queue(int64_t time_ns, const TcpSegmentFields& fields);
  // Queue for a segment in the common layout, uncounted (DispatchFrom
  // counts these packets when it returns).
  void QueueTimestamped(int64_t time_ns, const TimestampedTcpSegment& fields);
  // The queued packet's home slot prefetched, the next one's place taken
  // (processing the batch when full).
  void Commit(Queued* q, uint64_t hash);
  // Counts the packet's decode outcome; true when it is a TCP segment.
  bool DecodeSegment(const CapturedPacket& packet, TcpSegmentFields* segment);
  // DecodeSegment for what PacketDecoder::DecodeTcpSegment leaves.
  bool DecodeOther(const CapturedPacket& packet, TcpSegmentFields* segment);
  // Finds the entry a queued packet's slot points to (its hint) and
  // prefetches it.
  void PrefetchEntry(Queued* q);
  // The filling batch is full: processes the other one and prefetches the
  // full one's entries.
  void BatchFull();
  // Processes both batches (the ready one first) and empties them.
  void DrainBatches();
  // Processes `n` queued packets (entries prefetched) in order.
  void ProcessBatch(const Queued* queued, size_t n);
  // Prefetches the lines the samples of `n` queued packets would go to.
  void PrefetchSampleLines(const Queued* queued, size_t n);
  // Whether `flow` holds `key`: two words for IPv4.
  bool SameKey(const Flow& flow, const FlowKey& key) const {
    if (((flow.key_meta ^ key.meta) | (flow.key_word ^ key.word)) != 0) return false;
    // Same family (meta): IPv4 keys are complete.
    return key.v4() || SameV6Tail(flow, key);
  }
  bool SameV6Tail(const Flow& flow, const FlowKey& key) const;
  FlowKey KeyOf(const Flow& flow) const;
  size_t IndexOf(const Flow& flow) const { return static_cast<size_t>(&flow - entries_.data()); }
  Flow* Find(const FlowKey& key, uint64_t hash, size_t* empty_slot);
  // A new flow's entry at `slot` (empty); the table has room (MakeRoom).
  Flow* Insert(const FlowKey& key, uint64_t hash, size_t slot);
  // Before a new flow, from make_room_at_ live flows: sweeps when the table
  // is full of live flows (false, counted, if it stays full), grows it when
  // it would be more than half full; `empty_slot` follows.
  ABSL_ATTRIBUTE_NOINLINE bool MakeRoom(int64_t time_ns, const FlowKey& key, uint64_t hash,
                                        size_t* empty_slot);
  void Erase(Flow* entry);
  // Erase without freeing the entry: out of the table (its slot, its
  // spills), the rest of its fields left as they were; its index.
  uint32_t Unlink(Flow* entry);
  // Puts an unlinked entry on the free list.
  void FreeEntry(uint32_t index);
  ABSL_ATTRIBUTE_NOINLINE void GrowFreeEntries(uint32_t index);
  void Grow();
  // The client's index in `key` for a new flow whose first packet, sent by
  // `side`, has `flags`.
  uint8_t ChooseClientSide(const FlowKey& key, int side, uint8_t flags) const;
  // The client by local_prefixes / local_ports: -1 when they don't tell.
  int ConfiguredClientSide(const FlowKey& key) const;
  // A SYN starting a new connection on a tuple whose flow is still tracked.
  static bool IsNewConnection(const Flow& flow, int side, const Segment& tcp);
  // A packet of `flow` seen at `time_ns`: its traffic, for the next report.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void CountPacket(int64_t time_ns, uint32_t ip_length,
                                                       Flow* flow) {
    flow->last_seen_ns = time_ns;
    ++flow->unreported_packets;
    flow->unreported_bytes += ip_length;
  }
  // Something for the sink since the flow's last report.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static bool HasUnreported(const Flow& flow) {
    return flow.sample_count != 0 || flow.unreported_packets != 0 || flow.flow_unreported;
  }
  // No FIN either way, and the handshake done (or never seen): with
  // timestamps in use, the fast path's flows.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static bool OpenAndPastHandshake(const Flow& flow) {
    return (flow.handshake_done || flow.initiator < 0) && !flow.close[0].fin_seen &&
           !flow.close[1].fin_seen;
  }
  // ProcessSlow for the SYN (without ACK) that `flow` was just created for.
  void StartWithSyn(int64_t time_ns, const Segment& tcp, int side, Flow* flow);
  // ProcessSlow for a SYN-ACK with timestamps answering the one SYN (with
  // timestamps) of a flow that has no SYN-ACK and no FIN yet: false (and
  // nothing changed) for any other.
  bool AnswerSyn(int64_t time_ns, const Segment& tcp, int side, Flow* flow, const FlowKey& key);
  // ProcessSlow for a segment with timestamps but no SYN or RST, of a flow
  // whose timestamp use is not decided against (the handshake's ACK, the
  // FINs, the last ACK): the general path without the steps it skips.
  void ContinueTimestamped(int64_t time_ns, const Segment& tcp, int side, Flow* flow,
                           const FlowKey& key);
  void Handshake(int64_t time_ns, const Segment& tcp, int side, Flow* flow, const FlowKey& key);
  // Handshake for a segment without SYN: the initiator's ACK of the SYN-ACK.
  void HandshakeAck(int64_t time_ns, const Segment& tcp, int side, Flow* flow, const FlowKey& key);
  // Where a flow's orderly close stands after a segment (CloseStep).
  enum class CloseState : uint8_t {
    kOpen,     // no FIN seen either way
    kClosing,  // a FIN seen, the close not complete
    kClosed,   // both FINs acknowledged
  };
  // The FIN state a segment of `side` updates.
  static CloseState CloseStep(const Segment& tcp, int side, Flow* flow);
  void TimestampEcho(int64_t time_ns, const Segment& tcp, int side, Flow* flow, const FlowKey& key);
  void SeqAck(int64_t time_ns, const Segment& tcp, int side, Flow* flow, const FlowKey& key);
  // Matches `echo` against the other side's pending values (TSecr or ACK).
  void MatchPending(int64_t time_ns, uint32_t echo, RttMethod method, int side, Flow* flow,
                    const FlowKey& key);
  // Records a new pending value for side `side` (rate limit, bound).
  void Record(Flow* flow, int side, uint32_t value, int64_t time_ns);
  // Record past the inline case (a rate limit, a bound or a spill).
  void RecordSlow(Flow* flow, int side, uint32_t value, int64_t time_ns);
  void Emit(int64_t time_ns, int64_t rtt_ns, RttMethod method, int responder_side, Flow* flow,
            const FlowKey& key);
  // The sample of a pending value sent at `sent_ns` and echoed now: Emit
  // (EmitInRange nearly always), or counted expired past tsval_max_age.
  void EmitEcho(int64_t time_ns, int64_t sent_ns, RttMethod method, int responder_side, Flow* flow,
                const FlowKey& key);
  // A sample whose `rtt_ns` is in [0, emit_unchecked_below_ns_) (a
  // batching sink's).
  void EmitInRange(int64_t time_ns, int64_t rtt_ns, RttMethod method, int responder_side,
                   Flow* flow);
  // A non-batching sink's sample.
  void EmitSample(int64_t time_ns, int64_t rtt_ns, RttMethod method, RttLeg leg, const Flow& flow,
                  const FlowKey& key);
  void Sweep(int64_t now_ns);
  // Hands the flow's buffered samples and traffic counts to the sink.
  void ReportFlow(Flow* flow);
  // The report of what the flow has not reported yet.
  PassiveRttSink::FlowReport ReportOf(const Flow& flow) const;
  // The flow is closed (FINs, RST, a new connection on its tuple): out of
  // the table, and its last report. kCounted: the caller counted a packet
  // into it (so there is something to report).
  template <bool kCounted>
  void EndFlow(Flow* flow);
  void FlushSamples(Flow* flow);

  PassiveRttOptions options_;
  // The options' durations in nanoseconds (saturated).
  int64_t flow_idle_timeout_ns_;
  int64_t tsval_max_age_ns_;
  int64_t min_sample_interval_ns_;
  int64_t sweep_interval_ns_;
  // Record stores a side's pending value in place (no rate limit, under the
  // bound, in the entry) while it has fewer than this many.
  uint32_t record_inline_below_ =
      min_sample_interval_ns_ > 0
          ? 0
          : static_cast<uint32_t>(std::min<size_t>(2, options_.max_pending_per_direction));
  PassiveRttSink* sink_;
  bool batching_;
  bool sides_configured_;  // local_prefixes or local_ports set
  // The samples one unsigned compare lets through without Emit's checks
  // (EmitInRange): an rtt in [0, this) is under
  // tsval_max_age and FlowRttSample's clamp, for a batching sink; none
  // for another.
  uint64_t emit_unchecked_below_ns_ =
      batching_ ? static_cast<uint64_t>(std::min(tsval_max_age_ns_, FlowRttSample::kMaxRttNs)) + 1
                : 0;
  ClientPrefixer prefixer_;
  std::vector<Slot> slots_;
  int slot_bits_;  // slots_.size() == 1 << slot_bits_
  // 64 - slot_bits_: a hash's home slot is hash >> home_shift_.
  int home_shift_ = 64 - slot_bits_;
  size_t slot_mask_ = slots_.size() - 1;
  // Create calls MakeRoom from this many live flows on: min(max_flows,
  // slots_.size() / 2), the table's two limits in one test.
  size_t make_room_at_ = std::min(options_.max_flows, size_t{1} << (slot_bits_ - 1));
  std::vector<Flow> entries_;
  std::vector<uint32_t> free_entries_;
  // Per entry (same index), IPv6 keys only: FlowKey::v6 (sized when an
  // IPv6 flow first takes the entry).
  std::vector<std::array<uint64_t, 3>> keys_v6_;
  // Per entry (same index), only with min_sample_interval.
  std::vector<RateLimit> rate_limits_;
  // Per entry (same index), for batching sinks: out of the flow entry, so
  // that the entries stay small (cache lines per packet at many flows).
  std::vector<SampleBuffer> sample_buffers_;
  size_t live_flows_ = 0;
  uint64_t next_flow_id_ = 1;
  int64_t next_sweep_ns_ = std::numeric_limits<int64_t>::min();
  PassiveRttStats stats_;
  // DispatchFrom's two batches of queued segments, empty outside it: one
  // filling (up to fill_), the other ready_ (entries prefetched, 0 or
  // kBatchSize packets) to be processed first.
  std::array<std::array<Queued, kBatchSize>, 2> batches_;
  int dispatch_link_type_ = 0;  // the source's, during DispatchFrom
  size_t filling_ = 0;
  // The filling batch's next free place and its end.
  Queued* fill_ = batches_[0].data();
  Queued* fill_end_ = batches_[0].data() + kBatchSize;
  size_t ready_ = 0;
  // Segments queued through Queue during DispatchFrom (counted as they came).
  uint64_t counted_queued_ = 0;
};

}  // namespace vantage::probe
