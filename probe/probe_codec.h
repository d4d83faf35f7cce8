// ProbeCodec: builds our probes and classifies every captured packet against
// them — our own outgoing request, a genuine reply, an ICMP error quoting one
// of our probes, a forgery, or something unrelated. It is the one parser of
// untrusted bytes in the active prober (fuzzed by tests/fuzz/probe_codec_fuzzer).
//
// Identification (per run secret K, target t with address A, flow f, per-flow
// sequence s; only the low 16 bits of s, "seq16", identify a probe in flight):
//   ICMP echo: id = H16(K, A) + f, seq = seq16, 24-byte payload
//     "Vt" f 0 | s (4) | MAC64(K; A, id, s, f) (8) | 0 (6) | compensator (2);
//     the compensator keeps the ICMP checksum constant per flow (Paris-style:
//     routers hashing on the first L4 bytes keep a flow on one path).
//   TCP SYN: source port = tcp_base_port + f * kTcpPortsPerFlow + i, where i
//     picks one of the flow's pool of ports (the prober takes the lowest port
//     with no probe in flight, so a flow keeps one 5-tuple whenever it probes
//     slower than the RTT and never reuses a tuple that is still in flight);
//     ISN = seq16 << 16 | MAC16(K; A, sport, dport, seq16); SYN-ACK or RST
//     acks ISN + 1.
//   STAMP: source port = the f-th UDP socket's port, sequence = s, and the
//     low 16 bits of the sender timestamp (≈15 µs of an NTP fraction) =
//     MAC16(K; A, sport, dport, s). RTT and one-way delays use capture
//     timestamps, so those bits cost no accuracy.
// A packet that claims to answer a probe of ours (right address, port or
// ICMP id) but fails the MAC is kForged. A reply can only be matched when the
// MAC verifies, so an off-path sender cannot fake one without the key.
//
// Thread model: not synchronised; used from the prober's EventLoop thread.
// Classify is const and allocation-free.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "probe/ip_packet_view.h"
#include "probe/probe_secret.h"
#include "probe/probe_target.h"
#include "probe/stamp_packet.h"

namespace vantage::probe {

inline constexpr int kMaxFlowsPerTarget = 16;
// TCP source ports per flow (see above); the pool spans
// kMaxFlowsPerTarget * kTcpPortsPerFlow ports from tcp_base_port.
inline constexpr int kTcpPortsPerFlow = 32;
inline constexpr size_t kIcmpProbePayloadSize = 24;

// The bytes of one probe from the L4 header on (the kernel adds the IP header).
struct ProbePacket {
  uint8_t protocol = 0;  // IPPROTO_ICMP / _ICMPV6 / _TCP / _UDP
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  size_t length = 0;
  std::array<uint8_t, 64> bytes{};
  absl::Span<const uint8_t> span() const { return absl::MakeConstSpan(bytes.data(), length); }
};

enum class PacketVerdict : uint8_t {
  kUnrelated,  // not about our probes (other traffic, our own RSTs)
  kRequest,    // one of our probes leaving (its capture timestamp starts the RTT)
  kReply,      // a genuine reply to one of our probes
  kIcmpError,  // an ICMP error quoting one of our probes
  kForged,     // claims to concern our probes but fails the MAC
};

struct PacketClassification {
  PacketVerdict verdict = PacketVerdict::kUnrelated;
  uint32_t target = 0;
  uint8_t flow = 0;
  uint16_t seq16 = 0;
  // TCP: which of the flow's pool of source ports (0 for other methods).
  uint8_t port_slot = 0;
  // False for ICMP errors quoting too little to identify the probe (then only
  // target and flow are known).
  bool seq_known = false;
  IcmpErrorKind error = IcmpErrorKind::kCount;
  // A TCP SYN-ACK: the caller resets the half-open connection.
  bool tcp_syn_ack = false;
  // The reflector's packet, for STAMP replies.
  std::optional<StampReflectorPacket> stamp;
};

class ProbeCodec {
 public:
  // `stamp_ports[f]` is the local UDP port of flow f's STAMP socket (needed
  // only when STAMP targets exist). `flows` is in [1, kMaxFlowsPerTarget].
  ProbeCodec(ProbeSecret secret, int flows, uint16_t tcp_base_port,
             std::vector<uint16_t> stamp_ports);

  // Registers a target; its index is returned. A target may be added once.
  absl::StatusOr<uint32_t> AddTarget(const ProbeTarget& target);
  // The local ports of the STAMP flow sockets, flow by flow (before the
  // first STAMP target is added).
  void SetStampPorts(std::vector<uint16_t> ports) { stamp_ports_ = std::move(ports); }
  bool has_stamp_ports() const { return stamp_ports_.size() >= static_cast<size_t>(flows_); }
  uint16_t tcp_base_port() const { return tcp_base_port_; }
  const ProbeTarget& target(uint32_t index) const { return targets_[index]; }
  size_t target_count() const { return targets_.size(); }
  // Optional: room for `count` more targets without growth slack.
  void ReserveTargets(size_t count);
  // Bytes allocated by the target tables (capacities; the hash index's
  // slots and control bytes).
  size_t AllocatedBytes() const;
  int flows() const { return flows_; }
  uint16_t IcmpId(uint32_t target, uint8_t flow) const;
  // `port_slot` (< kTcpPortsPerFlow) picks a TCP port from the flow's pool.
  uint16_t SourcePort(uint32_t target, uint8_t flow, uint8_t port_slot = 0) const;

  // `source` is the local address the kernel will send from (it is in the
  // TCP pseudo-header). `now` fills STAMP's sender timestamp;
  // `error_estimate` its error estimate.
  void BuildProbe(uint32_t target, uint8_t flow, uint32_t seq, const IpAddress& source,
                  absl::Time now, uint16_t error_estimate, ProbePacket* out,
                  uint8_t port_slot = 0) const;
  // The RST that closes the half-open connection a SYN-ACK opened.
  void BuildTcpReset(uint32_t target, uint8_t flow, uint16_t seq16, const IpAddress& source,
                     ProbePacket* out, uint8_t port_slot = 0) const;

  PacketClassification Classify(const IpPacketView& packet) const;

 private:
  // A (flow, port slot) from a local port.
  struct LocalPort {
    uint8_t flow;
    uint8_t slot;
  };
  // An ICMP echo that names one of our targets and flows.
  struct EchoMatch {
    uint32_t target;
    uint8_t flow;
    uint16_t id;
    uint16_t seq16;
  };

  // Our TCP segment to `target` from the flow's pool port: keyed ISN +
  // `seq_offset`, `flags`, `window`, `options` (a multiple of 4 bytes) and
  // the checksum; the rest of `out` must be zero.
  void BuildTcp(uint32_t target, uint8_t flow, uint16_t seq16, const IpAddress& source,
                uint8_t port_slot, uint8_t flags, uint32_t seq_offset, uint16_t window,
                absl::Span<const uint8_t> options, ProbePacket* out) const;
  uint16_t IcmpIdBase(const IpAddress& address) const;
  uint64_t IcmpMac(const IpAddress& address, uint16_t id, uint32_t seq, uint8_t flow) const;
  uint16_t PortMac(const IpAddress& address, uint16_t sport, uint16_t dport, uint32_t seq) const;
  std::optional<uint32_t> FindTarget(const IpAddress& address, ProbeMethod method,
                                     uint16_t port) const;
  std::optional<uint8_t> StampFlow(uint16_t local_port) const;
  std::optional<LocalPort> TcpFlow(uint16_t local_port) const;
  // The echo header (8 bytes of `l4`) of a probe towards `remote`.
  std::optional<EchoMatch> MatchEcho(const IpAddress& remote, absl::Span<const uint8_t> l4) const;
  // Whether an echo's payload carries our magic, flow, sequence and MAC.
  bool EchoPayloadValid(const IpAddress& remote, const EchoMatch& m,
                        absl::Span<const uint8_t> payload) const;
  // The seq16 an ISN carries when its MAC verifies.
  std::optional<uint16_t> IsnSeq16(const IpAddress& remote, uint16_t local_port,
                                   uint16_t remote_port, uint32_t isn) const;
  // Whether a STAMP (sequence, timestamp) pair carries a valid MAC.
  bool StampTagValid(const IpAddress& remote, uint16_t local_port, uint16_t remote_port,
                     uint32_t sequence, uint64_t timestamp) const;

  PacketClassification ClassifyIcmp(const IpPacketView& packet) const;
  PacketClassification ClassifyTcp(const IpPacketView& packet) const;
  PacketClassification ClassifyUdp(const IpPacketView& packet) const;
  PacketClassification ClassifyQuoted(const IpPacketView& inner, IcmpErrorKind kind) const;

  ProbeSecret secret_;
  int flows_;
  uint16_t tcp_base_port_;
  std::vector<uint16_t> stamp_ports_;
  std::vector<ProbeTarget> targets_;
  std::vector<uint16_t> icmp_id_base_;  // per target: IcmpIdBase(address), computed once
  absl::flat_hash_map<ProbeTarget, uint32_t> index_;
};

}  // namespace vantage::probe
