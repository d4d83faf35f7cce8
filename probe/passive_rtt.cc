#include "probe/passive_rtt.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"

namespace vantage::probe {
namespace {

// RFC 1982 serial-number order on 32-bit sequence numbers and TSvals.
inline bool SerialAfter(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

inline uint64_t Word(const IpAddress& a, int i) {
  uint64_t w;
  std::memcpy(&w, a.bytes() + static_cast<ptrdiff_t>(8) * i, sizeof(w));
  return w;
}

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

// A total order on (address, port), cheaper than lexicographic: only
// consistency matters, so both directions of a flow get the same key.
inline bool EndpointBefore(const IpAddress& a, uint16_t pa, const IpAddress& b, uint16_t pb) {
  const uint64_t a0 = Word(a, 0);
  const uint64_t b0 = Word(b, 0);
  if (a0 != b0) return a0 < b0;
  const uint64_t a1 = Word(a, 1);
  const uint64_t b1 = Word(b, 1);
  if (a1 != b1) return a1 < b1;
  if (a.family() != b.family()) return a.family() < b.family();
  return pa < pb;
}

}  // namespace

size_t PassiveRtt::FlowKeyHash::operator()(const FlowKey& k) const {
  uint64_t h = (static_cast<uint64_t>(k.port[0]) << 16) | k.port[1];
  h |= static_cast<uint64_t>(k.address[0].family()) << 32;
  h = Mix(h, Word(k.address[0], 0));
  h = Mix(h, Word(k.address[0], 1));
  h = Mix(h, Word(k.address[1], 0));
  h = Mix(h, Word(k.address[1], 1));
  // MurmurHash3's finaliser: every input bit reaches the low bits, which
  // flat_hash_map uses for its control bytes.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<size_t>(h);
}

bool PassiveRtt::FlowKeyEq::operator()(const FlowKey& a, const FlowKey& b) const {
  return a.port[0] == b.port[0] && a.port[1] == b.port[1] &&
         Word(a.address[0], 0) == Word(b.address[0], 0) &&
         Word(a.address[0], 1) == Word(b.address[0], 1) &&
         Word(a.address[1], 0) == Word(b.address[1], 0) &&
         Word(a.address[1], 1) == Word(b.address[1], 1) &&
         a.address[0].family() == b.address[0].family();
}

const char* RttMethodName(RttMethod method) {
  switch (method) {
    case RttMethod::kHandshake:
      return "handshake";
    case RttMethod::kTimestamp:
      return "timestamp";
    case RttMethod::kSeqAck:
      return "seq_ack";
  }
  return "unknown";
}

const char* RttLegName(RttLeg leg) { return leg == RttLeg::kClient ? "client" : "server"; }

absl::StatusOr<std::unique_ptr<PassiveRtt>> PassiveRtt::Create(const PassiveRttOptions& options,
                                                               PassiveRttSink* sink) {
  if (sink == nullptr) return absl::InvalidArgumentError("PassiveRtt needs a sink");
  if (options.max_flows == 0) return absl::InvalidArgumentError("max_flows must be > 0");
  if (options.max_pending_per_direction == 0) {
    return absl::InvalidArgumentError("max_pending_per_direction must be > 0");
  }
  if (options.client_prefix_length_v4 < 0 || options.client_prefix_length_v4 > 32 ||
      options.client_prefix_length_v6 < 0 || options.client_prefix_length_v6 > 128) {
    return absl::InvalidArgumentError("client prefix lengths must be in [0, 32] and [0, 128]");
  }
  if (options.flow_idle_timeout <= absl::ZeroDuration() ||
      options.tsval_max_age <= absl::ZeroDuration() ||
      options.sweep_interval <= absl::ZeroDuration() ||
      options.min_sample_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("PassiveRtt durations must be positive");
  }
  return std::unique_ptr<PassiveRtt>(new PassiveRtt(options, sink));
}

PassiveRtt::PassiveRtt(const PassiveRttOptions& options, PassiveRttSink* sink)
    : options_(options),
      sink_(sink),
      prefixer_(options.client_prefix_length_v4, options.client_prefix_length_v6) {}

absl::Status PassiveRtt::SetAnonymizationKey(absl::string_view key) {
  if (options_.expose_client_addresses) {
    return absl::FailedPreconditionError(
        "pseudonymisation and expose_client_addresses exclude each other");
  }
  absl::Status status = prefixer_.SetKey(key);
  if (!status.ok()) return status;
  for (auto& [flow_key, flow] : flows_) {
    ReportTraffic(&flow);  // under the pseudonym it was counted with
    flow.client_prefix = prefixer_.ClientPrefix(flow_key.address[flow.client_side]);
  }
  return absl::OkStatus();
}

void PassiveRtt::UpdateCaptureStats(const CaptureStats& stats) {
  stats_.capture_kernel_dropped = stats.kernel_dropped;
  stats_.capture_interface_dropped = stats.interface_dropped;
}

void PassiveRtt::ReportTraffic(Flow* flow) {
  if (flow->unreported_packets == 0) return;
  sink_->OnTraffic(flow->last_seen, flow->client_prefix, flow->unreported_packets,
                   flow->unreported_bytes);
  flow->unreported_packets = 0;
  flow->unreported_bytes = 0;
}

void PassiveRtt::Flush() {
  for (auto& [flow_key, flow] : flows_) ReportTraffic(&flow);
}

void PassiveRtt::OnCapturedPacket(const CapturedPacket& packet) {
  ++stats_.packets;
  DecodedPacket decoded;
  const DecodeStatus status =
      PacketDecoder::Decode(packet.link_type, packet.bytes, &decoded, packet.wire_length);
  stats_.decode.Count(status);
  if (status != DecodeStatus::kOk) return;
  if (decoded.protocol != kIpProtoTcp) {
    ++stats_.non_tcp_packets;
    return;
  }
  OnDecodedPacket(packet.timestamp, decoded);
}

uint8_t PassiveRtt::ChooseClientSide(const FlowKey& key, int side,
                                     const DecodedPacket& packet) const {
  auto local_address = [this](const IpAddress& a) {
    return std::any_of(options_.local_prefixes.begin(), options_.local_prefixes.end(),
                       [&a](const Prefix& p) { return p.Contains(a); });
  };
  const bool a0 = local_address(key.address[0]);
  const bool a1 = local_address(key.address[1]);
  if (a0 != a1) return a0 ? 1 : 0;
  auto local_port = [this](uint16_t port) {
    return std::find(options_.local_ports.begin(), options_.local_ports.end(), port) !=
           options_.local_ports.end();
  };
  const bool p0 = local_port(key.port[0]);
  const bool p1 = local_port(key.port[1]);
  if (p0 != p1) return p0 ? 1 : 0;
  const uint8_t flags = packet.tcp.flags;
  if ((flags & kTcpSyn) != 0) {
    // The SYN's sender is the client; a SYN-ACK's receiver is.
    return static_cast<uint8_t>((flags & kTcpAck) == 0 ? side : 1 - side);
  }
  // Mid-flow without configuration: the ephemeral (higher) port is the client.
  if (key.port[0] != key.port[1]) return key.port[0] > key.port[1] ? 0 : 1;
  return 0;
}

std::pair<const PassiveRtt::FlowKey, PassiveRtt::Flow>* PassiveRtt::FindOrCreate(
    absl::Time time, const DecodedPacket& packet, int* side) {
  FlowKey key;
  const bool src_first = EndpointBefore(packet.src, packet.src_port, packet.dst, packet.dst_port);
  *side = src_first ? 0 : 1;
  key.address[*side] = packet.src;
  key.port[*side] = packet.src_port;
  key.address[1 - *side] = packet.dst;
  key.port[1 - *side] = packet.dst_port;
  auto it = flows_.find(key);
  if (it != flows_.end()) return &*it;
  // Nothing to track in a reset, a FIN or a bare ACK of an unknown flow (the
  // tail of a connection whose start we missed); data or a SYN starts one.
  if ((packet.tcp.flags & (kTcpRst | kTcpFin)) != 0 ||
      ((packet.tcp.flags & kTcpSyn) == 0 && packet.payload_length == 0)) {
    return nullptr;
  }
  if (flows_.size() >= options_.max_flows) {
    Sweep(time);
    if (flows_.size() >= options_.max_flows) {
      ++stats_.flows_rejected_full;
      return nullptr;
    }
  }
  Flow flow;
  flow.id = next_flow_id_++;
  flow.client_side = ChooseClientSide(key, *side, packet);
  flow.client_prefix = prefixer_.ClientPrefix(key.address[flow.client_side]);
  flow.last_seen = time;
  auto inserted = flows_.emplace(key, std::move(flow)).first;
  ++stats_.flows_created;
  sink_->OnFlow(time, inserted->second.client_prefix);
  return &*inserted;
}

bool PassiveRtt::IsNewConnection(const Flow& flow, int side, const TcpHeader& tcp) const {
  if ((tcp.flags & (kTcpSyn | kTcpAck)) != kTcpSyn) return false;
  const Direction& dir = flow.dir[side];
  if (dir.syn_count > 0 && tcp.seq == dir.syn_seq) return false;  // a retransmission
  return flow.handshake_done || dir.syn_count > 0 || dir.seq_seen || dir.ts_seen;
}

void PassiveRtt::OnDecodedPacket(absl::Time time, const DecodedPacket& packet) {
  ++stats_.tcp_packets;
  if (time >= next_sweep_) {
    Sweep(time);
    next_sweep_ = time + options_.sweep_interval;
  }
  int side = 0;
  auto* entry = FindOrCreate(time, packet, &side);
  if (entry == nullptr) return;
  if (IsNewConnection(entry->second, side, packet.tcp)) {
    ReportTraffic(&entry->second);
    flows_.erase(entry->first);
    ++stats_.flows_closed;
    entry = FindOrCreate(time, packet, &side);
    if (entry == nullptr) return;
  }
  const FlowKey& key = entry->first;
  Flow& flow = entry->second;
  flow.last_seen = time;
  ++flow.unreported_packets;
  flow.unreported_bytes += packet.ip_length;
  const TcpHeader& tcp = packet.tcp;
  if ((tcp.flags & kTcpRst) != 0) {
    // A reset may still echo a TSval (an abort sends one with options).
    if (tcp.has_timestamps) TimestampEcho(time, tcp, side, &flow, key);
    ReportTraffic(&flow);
    flows_.erase(key);
    ++stats_.flows_closed;
    return;
  }
  Handshake(time, packet, side, &flow, key);
  if (flow.uses_timestamps < 0 && (tcp.flags & kTcpSyn) == 0) {
    flow.uses_timestamps = tcp.has_timestamps ? 1 : 0;
  }
  if (tcp.has_timestamps) TimestampEcho(time, tcp, side, &flow, key);
  if (flow.uses_timestamps == 0) SeqAck(time, packet, side, &flow, key);
  Direction& me = flow.dir[side];
  if ((tcp.flags & kTcpFin) != 0 && !me.fin_seen) {
    me.fin_seen = true;
    me.fin_next = tcp.seq + packet.payload_length + 1;
  }
  Direction& other = flow.dir[1 - side];
  if (other.fin_seen && (tcp.flags & kTcpAck) != 0 && !SerialAfter(other.fin_next, tcp.ack)) {
    other.fin_acked = true;
  }
  if (me.fin_acked && other.fin_acked) {
    // Both FINs acknowledged: the orderly close is complete.
    ReportTraffic(&flow);
    flows_.erase(key);
    ++stats_.flows_closed;
  }
}

void PassiveRtt::Handshake(absl::Time time, const DecodedPacket& packet, int side, Flow* flow,
                           const FlowKey& key) {
  const TcpHeader& tcp = packet.tcp;
  Direction& me = flow->dir[side];
  const bool syn = (tcp.flags & kTcpSyn) != 0;
  const bool ack = (tcp.flags & kTcpAck) != 0;
  if (syn && !ack) {
    if (flow->initiator < 0) flow->initiator = static_cast<int8_t>(side);
    if (flow->initiator != side) return;  // simultaneous open: not timed
    if (me.syn_count == 0) {
      me.syn_seq = tcp.seq;
      me.syn_timestamps = tcp.has_timestamps;
    }
    ++me.syn_count;
    me.syn_time = time;  // the latest, as Wireshark's ts_mru_syn
    return;
  }
  if (syn && ack) {
    if (flow->handshake_done) return;
    if (flow->initiator < 0) flow->initiator = static_cast<int8_t>(1 - side);
    if (flow->initiator == side) return;
    const Direction& initiator = flow->dir[flow->initiator];
    if (initiator.syn_count > 0 && tcp.ack != initiator.syn_seq + 1) return;  // not our SYN's
    if (me.syn_count == 0) {
      me.syn_seq = tcp.seq;
      me.syn_timestamps = tcp.has_timestamps;
      me.syn_count = 1;
      me.syn_time = time;
      if (initiator.syn_count > 0) {
        flow->uses_timestamps = initiator.syn_timestamps && tcp.has_timestamps ? 1 : 0;
        if (flow->uses_timestamps == 0) {
          flow->dir[0].pending.clear();
          flow->dir[1].pending.clear();
        }
      }
      if (initiator.syn_count == 1) {
        Emit(time, time - initiator.syn_time, RttMethod::kHandshake, side, *flow, key);
      } else if (initiator.syn_count > 1) {
        ++stats_.karn_discarded;  // which SYN did it answer?
      }
    } else if (tcp.seq == me.syn_seq) {
      ++me.syn_count;
      me.syn_time = time;
    }
    return;
  }
  if (ack && !flow->handshake_done && flow->initiator == side) {
    const Direction& responder = flow->dir[1 - side];
    if (responder.syn_count > 0 && tcp.ack == responder.syn_seq + 1) {
      flow->handshake_done = true;
      if (responder.syn_count == 1) {
        Emit(time, time - responder.syn_time, RttMethod::kHandshake, side, *flow, key);
      } else {
        ++stats_.karn_discarded;
      }
    }
  }
}

void PassiveRtt::Record(Direction* dir, uint32_t value, absl::Time time) {
  if (options_.min_sample_interval > absl::ZeroDuration() &&
      time - dir->last_recorded < options_.min_sample_interval) {
    ++stats_.rate_limited;
    return;
  }
  if (dir->pending.size() >= options_.max_pending_per_direction) {
    dir->pending.erase(dir->pending.begin());
    ++stats_.pending_evicted;
  }
  dir->pending.push_back(Pending{value, time});
  dir->last_recorded = time;
}

void PassiveRtt::TimestampEcho(absl::Time time, const TcpHeader& tcp, int side, Flow* flow,
                               const FlowKey& key) {
  Direction& me = flow->dir[side];
  Direction& other = flow->dir[1 - side];
  // TSecr is meaningful only with ACK set (RFC 7323 3.2).
  if ((tcp.flags & kTcpAck) != 0 && !other.pending.empty()) {
    // Echoes only move forward: TSvals older than this echo never will be.
    size_t consumed = 0;
    while (consumed < other.pending.size() &&
           !SerialAfter(other.pending[consumed].value, tcp.tsecr)) {
      const Pending& p = other.pending[consumed];
      if (p.value == tcp.tsecr) {
        if (time - p.time <= options_.tsval_max_age) {
          Emit(time, time - p.time, RttMethod::kTimestamp, side, *flow, key);
        } else {
          ++stats_.pending_expired;
        }
      }
      ++consumed;
    }
    other.pending.erase(other.pending.begin(),
                        other.pending.begin() + static_cast<std::ptrdiff_t>(consumed));
  }
  if (!me.ts_seen || SerialAfter(tcp.tsval, me.last_tsval)) {
    me.ts_seen = true;
    me.last_tsval = tcp.tsval;
    Record(&me, tcp.tsval, time);
  }
}

void PassiveRtt::SeqAck(absl::Time time, const DecodedPacket& packet, int side, Flow* flow,
                        const FlowKey& key) {
  const TcpHeader& tcp = packet.tcp;
  Direction& me = flow->dir[side];
  Direction& other = flow->dir[1 - side];
  if ((tcp.flags & kTcpAck) != 0 && !other.pending.empty()) {
    size_t consumed = 0;
    while (consumed < other.pending.size() &&
           !SerialAfter(other.pending[consumed].value, tcp.ack)) {
      const Pending& p = other.pending[consumed];
      if (p.value == tcp.ack) {
        if (time - p.time <= options_.tsval_max_age) {
          Emit(time, time - p.time, RttMethod::kSeqAck, side, *flow, key);
        } else {
          ++stats_.pending_expired;
        }
      }
      ++consumed;
    }
    other.pending.erase(other.pending.begin(),
                        other.pending.begin() + static_cast<std::ptrdiff_t>(consumed));
  }
  if (packet.payload_length == 0 || (tcp.flags & kTcpSyn) != 0) return;
  const uint32_t end = tcp.seq + packet.payload_length;
  if (!me.seq_seen) {
    me.seq_seen = true;
    me.next_seq = end;
    Record(&me, end, time);
    return;
  }
  if (!SerialAfter(me.next_seq, tcp.seq)) {
    // Starts at or beyond the highest byte sent: new data only.
    me.next_seq = end;
    Record(&me, end, time);
    return;
  }
  // Covers bytes sent before: a retransmission. Karn: acks of segments it
  // overlaps are ambiguous, so those pending segments give no sample.
  const auto first_hit =
      std::find_if(me.pending.begin(), me.pending.end(),
                   [&tcp](const Pending& p) { return SerialAfter(p.value, tcp.seq); });
  stats_.karn_discarded += static_cast<uint64_t>(me.pending.end() - first_hit);
  me.pending.erase(first_hit, me.pending.end());
  if (SerialAfter(end, me.next_seq)) {
    // Also carries new bytes: its own end is unambiguous.
    me.next_seq = end;
    Record(&me, end, time);
  }
}

void PassiveRtt::Emit(absl::Time time, absl::Duration rtt, RttMethod method, int responder_side,
                      const Flow& flow, const FlowKey& key) {
  if (rtt < absl::ZeroDuration()) return;  // clock stepped back in the capture
  RttSample sample;
  sample.time = time;
  sample.rtt = rtt;
  sample.method = method;
  sample.leg = responder_side == flow.client_side ? RttLeg::kClient : RttLeg::kServer;
  sample.client_prefix = flow.client_prefix;
  sample.flow_id = flow.id;
  const int server_side = 1 - flow.client_side;
  sample.server = Endpoint(key.address[server_side], key.port[server_side]);
  sample.client_port = key.port[flow.client_side];
  if (options_.expose_client_addresses) sample.client_address = key.address[flow.client_side];
  ++stats_.samples[static_cast<size_t>(method)];
  sink_->OnSample(sample);
}

void PassiveRtt::Sweep(absl::Time now) {
  for (auto it = flows_.begin(); it != flows_.end();) {
    Flow& flow = it->second;
    ReportTraffic(&flow);
    if (now - flow.last_seen > options_.flow_idle_timeout) {
      flows_.erase(it++);
      ++stats_.flows_evicted_idle;
      continue;
    }
    for (Direction& dir : flow.dir) {
      const auto fresh =
          std::find_if(dir.pending.begin(), dir.pending.end(),
                       [&](const Pending& p) { return now - p.time <= options_.tsval_max_age; });
      stats_.pending_expired += static_cast<uint64_t>(fresh - dir.pending.begin());
      dir.pending.erase(dir.pending.begin(), fresh);
    }
    ++it;
  }
}

}  // namespace vantage::probe
