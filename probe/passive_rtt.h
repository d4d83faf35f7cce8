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
// Memory is bounded: at most max_flows flows (idle ones are evicted; when
// the table is full of live flows, new flows are counted and ignored), at
// most max_pending_per_direction pending TSvals / segments per direction.
//
// Thread model: one thread (the probe's EventLoop); not synchronised.
// Packet times must be non-decreasing per capture (they are for one pcap
// source); time only advances from packet timestamps, never from a clock.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
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

// Receives what PassiveRtt produces. Called synchronously from OnPacket.
class PassiveRttSink {
 public:
  virtual ~PassiveRttSink() = default;
  virtual void OnSample(const RttSample& sample) = 0;
  // A new flow toward `client_prefix` was seen.
  virtual void OnFlow(absl::Time time, const Prefix& client_prefix) = 0;
  // Traffic of one tracked flow (both directions) since its last report:
  // `ip_bytes` sums IP lengths on the wire. Reported per flow at every sweep
  // (sweep_interval of packet time), when the flow ends, and on Flush(), so
  // `time` (the flow's last packet) may lag a packet by up to sweep_interval.
  virtual void OnTraffic(absl::Time time, const Prefix& client_prefix, uint64_t packets,
                         uint64_t ip_bytes) = 0;
};

struct PassiveRttOptions {
  // Our side: addresses inside these prefixes, or (when no prefix matches
  // either end) these server ports.
  std::vector<Prefix> local_prefixes;
  std::vector<uint16_t> local_ports;
  int client_prefix_length_v4 = 24;
  int client_prefix_length_v6 = 48;
  size_t max_flows = 100000;
  absl::Duration flow_idle_timeout = absl::Seconds(300);
  absl::Duration tsval_max_age = absl::Seconds(10);
  // Per flow and direction: TSvals (or segments) are recorded at most once
  // per interval; 0 records every new one.
  absl::Duration min_sample_interval = absl::ZeroDuration();
  size_t max_pending_per_direction = 32;
  // Idle flows are swept when packet time has advanced this much.
  absl::Duration sweep_interval = absl::Seconds(1);
  // Debugging only: full client addresses in samples. Incompatible with a
  // pseudonymisation key.
  bool expose_client_addresses = false;
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
  // Processes an already decoded packet (status kOk).
  void OnDecodedPacket(absl::Time time, const DecodedPacket& packet);
  void UpdateCaptureStats(const CaptureStats& stats);
  // Reports every flow's pending traffic counts to the sink (call before
  // taking completed windows, and at the end of a capture).
  void Flush();

  const PassiveRttStats& stats() const { return stats_; }
  size_t flow_count() const { return flows_.size(); }
  const ClientPrefixer& prefixer() const { return prefixer_; }

 private:
  struct FlowKey {
    IpAddress address[2];  // canonical order (see FindOrCreate)
    uint16_t port[2] = {0, 0};
  };
  // Word-wise hash and equality: the flow lookup is the per-packet hot path.
  struct FlowKeyHash {
    size_t operator()(const FlowKey& k) const;
  };
  struct FlowKeyEq {
    bool operator()(const FlowKey& a, const FlowKey& b) const;
  };
  struct Pending {
    uint32_t value;  // TSval, or a segment's end sequence
    absl::Time time;
  };
  // Per direction: packets sent by side `d`.
  struct Direction {
    bool ts_seen = false;
    uint32_t last_tsval = 0;
    bool seq_seen = false;
    uint32_t next_seq = 0;  // highest end sequence sent
    absl::Time last_recorded = absl::InfinitePast();
    std::vector<Pending> pending;  // ascending (serial order); TSvals or segment ends
    // Close: this side's FIN and the sequence number just after it.
    bool fin_seen = false;
    bool fin_acked = false;
    uint32_t fin_next = 0;
    // Handshake.
    int syn_count = 0;            // SYNs (or SYN-ACKs) sent by this side
    bool syn_timestamps = false;  // its first SYN carried the timestamp option
    uint32_t syn_seq = 0;
    absl::Time syn_time;
  };
  struct Flow {
    uint64_t id = 0;
    uint8_t client_side = 0;  // index into FlowKey of the client
    int8_t initiator = -1;    // side that sent the first SYN, -1 if unseen
    bool handshake_done = false;
    // -1 unknown, 0 no, 1 yes: decided by the handshake, else the first packet.
    int8_t uses_timestamps = -1;
    absl::Time last_seen;
    Prefix client_prefix;
    uint64_t unreported_packets = 0;
    uint64_t unreported_bytes = 0;
    Direction dir[2];
  };

  PassiveRtt(const PassiveRttOptions& options, PassiveRttSink* sink);
  // Returns nullptr when the table is full (counted).
  std::pair<const FlowKey, Flow>* FindOrCreate(absl::Time time, const DecodedPacket& packet,
                                               int* side);
  uint8_t ChooseClientSide(const FlowKey& key, int side, const DecodedPacket& packet) const;
  // A SYN starting a new connection on a tuple whose flow is still tracked.
  bool IsNewConnection(const Flow& flow, int side, const TcpHeader& tcp) const;
  void Handshake(absl::Time time, const DecodedPacket& packet, int side, Flow* flow,
                 const FlowKey& key);
  void TimestampEcho(absl::Time time, const TcpHeader& tcp, int side, Flow* flow,
                     const FlowKey& key);
  void SeqAck(absl::Time time, const DecodedPacket& packet, int side, Flow* flow,
              const FlowKey& key);
  // Records a new pending value in `dir` (rate limit, bound).
  void Record(Direction* dir, uint32_t value, absl::Time time);
  void Emit(absl::Time time, absl::Duration rtt, RttMethod method, int responder_side,
            const Flow& flow, const FlowKey& key);
  void Sweep(absl::Time now);
  void ReportTraffic(Flow* flow);

  PassiveRttOptions options_;
  PassiveRttSink* sink_;
  ClientPrefixer prefixer_;
  absl::flat_hash_map<FlowKey, Flow, FlowKeyHash, FlowKeyEq> flows_;
  uint64_t next_flow_id_ = 1;
  absl::Time next_sweep_ = absl::InfinitePast();
  PassiveRttStats stats_;
};

}  // namespace vantage::probe
