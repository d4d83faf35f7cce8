#include "probe/passive_rtt.h"

#include <pcap/pcap.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "probe/internal/pcap_dispatch.h"

namespace vantage::probe {
namespace {

// On the out-of-line slow-path functions (each a few shortcuts inlined):
// GCC's SLP vectoriser turns CountPacket's two adjacent counter updates into
// 8 vector instructions where 4 scalar ones do (-1.0M instructions per pass
// on the default capture). GCC only; a no-op elsewhere.
#if defined(__GNUC__) && !defined(__clang__)
#define VANTAGE_NO_SLP_VECTORIZE __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define VANTAGE_NO_SLP_VECTORIZE
#endif

// RFC 1982 serial-number order on 32-bit sequence numbers and TSvals.
inline bool SerialAfter(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

// TcpSegmentFields and FlowKey hold address bytes in machine words.
static_assert(std::endian::native == std::endian::little);

constexpr int kInitialSlotBits = 10;

// Asks for transparent huge pages over a vector's reserved storage (where
// the kernel grants them on request): a growing flow table then faults its
// memory in 2 MiB at a time instead of 4 KiB. A hint; errors are ignored.
template <typename T>
void AdviseHugePages(std::vector<T>& v) {
  constexpr size_t kPage = 4096;
  char* data = reinterpret_cast<char*>(v.data());
  const size_t bytes = v.capacity() * sizeof(T);
  const size_t lead = (kPage - reinterpret_cast<uintptr_t>(data) % kPage) % kPage;
  if (bytes <= lead + kPage) return;
  madvise(data + lead, (bytes - lead) / kPage * kPage, MADV_HUGEPAGE);
}

// A duration in nanoseconds, saturated to int64.
int64_t Nanos(absl::Duration d) {
  if (d >= absl::Nanoseconds(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  return absl::ToInt64Nanoseconds(d);
}

// a - b for times in nanoseconds, saturated (a sentinel minimum never
// overflows into a small difference).
inline int64_t Elapsed(int64_t a, int64_t b) {
  int64_t d;
  if (__builtin_sub_overflow(a, b, &d)) {
    return a > b ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  }
  return d;
}

}  // namespace

void PassiveRttSink::OnSampleBatch(const Prefix& client_prefix,
                                   absl::Span<const FlowRttSample> samples) {
  for (const FlowRttSample& s : samples) {
    RttSample sample;
    sample.time = absl::FromUnixNanos(s.time_ns());
    sample.rtt = absl::Nanoseconds(s.rtt_ns());
    sample.method = s.method();
    sample.leg = s.leg();
    sample.client_prefix = client_prefix;
    OnSample(sample);
  }
}

void PassiveRttSink::OnFlowReport(const FlowReport& report) {
  if (report.new_flow) OnFlow(absl::FromUnixNanos(report.first_seen_ns), *report.client_prefix);
  if (!report.samples.empty()) OnSampleBatch(*report.client_prefix, report.samples);
  if (report.packets > 0) {
    OnTraffic(absl::FromUnixNanos(report.last_seen_ns), *report.client_prefix, report.packets,
              report.ip_bytes);
  }
}

IpAddress PassiveRtt::FlowKey::Address(int side) const {
  uint8_t bytes[16] = {};
  if (v4()) {
    const auto address = static_cast<uint32_t>(word >> (32 * side));
    std::memcpy(bytes, &address, 4);
    return IpAddress::V4Bytes(bytes);
  }
  const uint64_t first = side == 0 ? word : v6[1];
  const uint64_t second = side == 0 ? v6[0] : v6[2];
  std::memcpy(bytes, &first, 8);
  std::memcpy(bytes + 8, &second, 8);
  return IpAddress::V6Bytes(bytes);
}

void PassiveRtt::PendingSpill::Regrow(uint32_t capacity, uint32_t keep) {
  auto* heap = new Pending[capacity];
  std::copy(data_, data_ + keep, heap);
  delete[] data_;
  data_ = heap;
}

bool PassiveRtt::SameV6Tail(const Flow& flow, const FlowKey& key) const {
  const std::array<uint64_t, 3>& v6 = keys_v6_[IndexOf(flow)];
  return ((v6[0] ^ key.v6[0]) | (v6[1] ^ key.v6[1]) | (v6[2] ^ key.v6[2])) == 0;
}

PassiveRtt::FlowKey PassiveRtt::KeyOf(const Flow& flow) const {
  FlowKey key{flow.key_word, flow.key_meta, {0, 0, 0}};
  if (!key.v4()) std::copy_n(keys_v6_[IndexOf(flow)].begin(), 3, key.v6);
  return key;
}

void PassiveRtt::PendingList::Set(size_t i, uint32_t value, int64_t time_ns) {
  if (i < 2) {
    head_->value[i] = value;
    head_->time_ns[i] = time_ns;
  } else {
    Pending& p = spill_->data()[i - 2];
    p.value = value;
    p.time_ns = time_ns;
  }
}

void PassiveRtt::PendingList::PopFront(size_t n) {
  if (n == 0) return;
  const size_t size = head_->size;
  for (size_t i = n; i < size; ++i) Set(i - n, value(i), time_ns(i));
  head_->size = static_cast<uint32_t>(size - n);
}

void PassiveRtt::PendingList::PushSpill(uint32_t value, int64_t time_ns) {
  const uint32_t spilled = head_->size - 2;
  if (spilled == head_->spill_capacity) {
    head_->spill_capacity = std::max<uint32_t>(2, 2 * spilled);
    spill_->Regrow(head_->spill_capacity, spilled);
  }
  // Field by field: a Pending built aside and copied as a whole would be
  // reloaded before its two stores retire (a store-forwarding stall).
  Pending& p = spill_->data()[spilled];
  p.value = value;
  p.time_ns = time_ns;
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
  // The flow table's slots hold 32-bit hash tags and entry indices.
  if (options.max_flows == 0 || options.max_flows > (size_t{1} << 30)) {
    return absl::InvalidArgumentError("max_flows must be in [1, 2^30]");
  }
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
      flow_idle_timeout_ns_(Nanos(options.flow_idle_timeout)),
      tsval_max_age_ns_(Nanos(options.tsval_max_age)),
      min_sample_interval_ns_(Nanos(options.min_sample_interval)),
      sweep_interval_ns_(Nanos(options.sweep_interval)),
      sink_(sink),
      batching_(sink->batches_samples()),
      sides_configured_(!options.local_prefixes.empty() || !options.local_ports.empty()),
      prefixer_(options.client_prefix_length_v4, options.client_prefix_length_v6),
      slots_(size_t{1} << kInitialSlotBits, Slot{0, 0}),
      slot_bits_(kInitialSlotBits) {
  // The header promises 0.5 KiB per flow slot with the sample buffer (the
  // memory bound): 4 cache lines per entry.
  static_assert(sizeof(Flow) == 256 && sizeof(SampleBuffer) == 256);
  // The fast path's fields fit the lines PrefetchEntry prefetches for it.
  static_assert(offsetof(FlowState, id) == kHotLines * 64);
  // Closing a flow (its last ACK, which the hot lines' prefetch serves)
  // reads the third line, not the fourth.
  static_assert(offsetof(FlowState, close) + sizeof(FlowState::close) <= (kHotLines + 1) * 64);
  // Entries never move up to reserved_flows: the slab is reserved for that
  // many (2^20 by default, 0.25 GB of address space; pages are committed
  // only as flows first use them). Growing by reallocation moved every entry
  // and faulted twice the memory in; at 50k live flows that was 15% of the
  // time.
  const size_t reserved = std::min(options.max_flows, options.reserved_flows);
  entries_.reserve(reserved);
  AdviseHugePages(entries_);
  if (batching_) {
    sample_buffers_.reserve(reserved);
    AdviseHugePages(sample_buffers_);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline PassiveRtt::Flow* PassiveRtt::Find(const FlowKey& key,
                                                                       uint64_t hash,
                                                                       size_t* empty_slot) {
  const auto tag = static_cast<uint32_t>(hash >> 32);
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash >> (64 - slot_bits_);; i = (i + 1) & mask) {
    const Slot slot = slots_[i];
    if (slot.entry == 0) {
      *empty_slot = i;
      return nullptr;
    }
    if (slot.tag == tag) {
      Flow& entry = entries_[slot.entry - 1];
      if (SameKey(entry, key)) return &entry;
    }
  }
}

void PassiveRtt::Grow() {
  std::vector<Slot> old = std::move(slots_);
  ++slot_bits_;
  home_shift_ = 64 - slot_bits_;
  slot_mask_ = (size_t{1} << slot_bits_) - 1;
  slots_.assign(size_t{1} << slot_bits_, Slot{0, 0});
  const size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.entry == 0) continue;
    size_t i = slot.tag >> (32 - slot_bits_);
    while (slots_[i].entry != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

bool PassiveRtt::MakeRoom(int64_t time_ns, const FlowKey& key, uint64_t hash, size_t* empty_slot) {
  if (live_flows_ >= options_.max_flows) {
    Sweep(time_ns);
    if (live_flows_ >= options_.max_flows) {
      ++stats_.flows_rejected_full;
      return false;
    }
    Find(key, hash, empty_slot);  // the sweep moved slots
  }
  // At most half full.
  if (2 * (live_flows_ + 1) > slots_.size()) {
    Grow();
    Find(key, hash, empty_slot);  // where the key goes now
  }
  make_room_at_ = std::min(options_.max_flows, slots_.size() / 2);
  return true;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline PassiveRtt::Flow* PassiveRtt::Insert(const FlowKey& key,
                                                                         uint64_t hash,
                                                                         size_t slot) {
  uint32_t index;
  if (!free_entries_.empty()) {
    index = free_entries_.back();
    free_entries_.pop_back();
  } else {
    index = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
    if (batching_) sample_buffers_.emplace_back();
  }
  Flow& entry = entries_[index];
  // A fresh flow in place, written field by field: only what is read before
  // it is written (FlowState: a value guarded by a count or flag is not
  // reset, only its guard; Create writes the rest of what it reads). Its
  // spills are empty (Erase releases them).
  entry.key_word = key.word;
  entry.key_meta = key.meta;
  entry.unreported_packets = 0;
  entry.unreported_bytes = 0;
  entry.live = true;
  entry.ts_seen[0] = false;
  entry.ts_seen[1] = false;
  entry.fast = false;
  entry.sample_count = 0;
  entry.initiator = -1;
  entry.handshake_done = false;
  entry.uses_timestamps = -1;
  entry.flow_unreported = false;
  for (PendingHead& head : entry.pending_head) {
    head.size = 0;
    head.spill_capacity = 0;
  }
  for (Close& close : entry.close) {
    close.fin_seen = false;
    close.fin_acked = false;
  }
  for (Direction& dir : entry.dir) {
    dir.syn_count = 0;
    dir.seq_seen = false;
  }
  if (!key.v4()) {
    if (keys_v6_.size() <= index) keys_v6_.resize(index + 1);
    std::copy(key.v6, key.v6 + 3, keys_v6_[index].begin());
  }
  if (min_sample_interval_ns_ > 0) {
    if (rate_limits_.size() <= index) rate_limits_.resize(index + 1);
    rate_limits_[index] = RateLimit();
  }
  entry.tag = static_cast<uint32_t>(hash >> 32);
  slots_[slot] = Slot{entry.tag, index + 1};
  ++live_flows_;
  return &entry;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint32_t PassiveRtt::Unlink(Flow* entry) {
  const auto index = static_cast<uint32_t>(entry - entries_.data());
  const size_t mask = slots_.size() - 1;
  size_t i = entry->tag >> (32 - slot_bits_);
  while (slots_[i].entry != index + 1) i = (i + 1) & mask;
  // Backward-shift deletion: later slots of the probe run move up so that
  // every key stays reachable from its home slot without tombstones.
  for (size_t j = (i + 1) & mask; slots_[j].entry != 0; j = (j + 1) & mask) {
    const size_t home = slots_[j].tag >> (32 - slot_bits_);
    // Slot j may fill the hole at i unless its home lies cyclically in (i, j].
    if (((j - home) & mask) >= ((j - i) & mask)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{0, 0};
  entry->live = false;
  // No packet's key matches a free entry (a key's meta holds its family, 4
  // or 6): Process checks a hinted entry's key without its `live`.
  entry->key_meta = 0;
  // Frees what pending values spilled to the heap (rare: both capacities
  // tested at once). Only that: the flow's other fields stay as they were
  // until Insert reuses the entry (EndFlow reports from them).
  if ((entry->pending_head[0].spill_capacity | entry->pending_head[1].spill_capacity) != 0) {
    entry->pending(0).Release();
    entry->pending(1).Release();
  }
  --live_flows_;
  return index;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::FreeEntry(uint32_t index) {
  // Within the capacity, a plain store (the test is push_back's own, so
  // GCC drops its reallocation here); the growth out of line, so that the
  // caller saves no registers for it.
  if (ABSL_PREDICT_TRUE(free_entries_.data() + free_entries_.size() !=
                        free_entries_.data() + free_entries_.capacity())) {
    free_entries_.push_back(index);
  } else {
    GrowFreeEntries(index);
  }
}

void PassiveRtt::GrowFreeEntries(uint32_t index) { free_entries_.push_back(index); }

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Erase(Flow* entry) {
  FreeEntry(Unlink(entry));
}

absl::Status PassiveRtt::SetAnonymizationKey(absl::string_view key) {
  if (options_.expose_client_addresses) {
    return absl::FailedPreconditionError(
        "pseudonymisation and expose_client_addresses exclude each other");
  }
  absl::Status status = prefixer_.SetKey(key);
  if (!status.ok()) return status;
  for (Flow& entry : entries_) {
    if (!entry.live) continue;
    ReportFlow(&entry);  // under the pseudonym it was counted with
    entry.client_prefix = prefixer_.ClientPrefix(KeyOf(entry).Address(entry.client_side));
  }
  return absl::OkStatus();
}

void PassiveRtt::UpdateCaptureStats(const CaptureStats& stats) {
  stats_.capture_kernel_dropped = stats.kernel_dropped;
  stats_.capture_interface_dropped = stats.interface_dropped;
}

void PassiveRtt::FlushSamples(Flow* flow) {
  if (flow->sample_count == 0) return;
  sink_->OnSampleBatch(
      flow->client_prefix,
      absl::MakeConstSpan(sample_buffers_[IndexOf(*flow)].data(), flow->sample_count));
  flow->sample_count = 0;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline PassiveRttSink::FlowReport PassiveRtt::ReportOf(
    const Flow& flow) const {
  // Flow, samples and traffic in one call: the sink finds its per-prefix
  // state once.
  // Every field once (designated: no default stores first).
  return PassiveRttSink::FlowReport{
      .client_prefix = &flow.client_prefix,
      .new_flow = flow.flow_unreported,
      .first_seen_ns = flow.first_seen_ns,
      .samples = flow.sample_count > 0
                     ? absl::MakeConstSpan(sample_buffers_[IndexOf(flow)].data(), flow.sample_count)
                     : absl::Span<const FlowRttSample>(),
      .last_seen_ns = flow.last_seen_ns,
      .packets = flow.unreported_packets,
      .ip_bytes = flow.unreported_bytes,
  };
}

void PassiveRtt::ReportFlow(Flow* flow) {
  if (!HasUnreported(*flow)) return;
  const PassiveRttSink::FlowReport report = ReportOf(*flow);
  flow->flow_unreported = false;
  flow->sample_count = 0;
  flow->unreported_packets = 0;
  flow->unreported_bytes = 0;
  sink_->OnFlowReport(report);
}

template <bool kCounted>
void PassiveRtt::EndFlow(Flow* flow) {
  // Out of the table first, then its last report (ReportFlow without
  // resetting what the flow's end drops), from the fields Unlink leaves as
  // they were (the entry is not reused before the next Insert): nothing is
  // live across the sink's call, so no registers to save around it.
  ++stats_.flows_closed;
  const uint32_t index = Unlink(flow);
  if (kCounted || HasUnreported(*flow)) sink_->OnFlowReport(ReportOf(*flow));
  FreeEntry(index);
}

void PassiveRtt::Flush() {
  for (Flow& entry : entries_) {
    if (entry.live) ReportFlow(&entry);
  }
}

void PassiveRtt::Receive(void* passive_rtt, const CapturedPacket& packet) {
  static_cast<PassiveRtt*>(passive_rtt)->OnCapturedPacket(packet);
}

absl::StatusOr<int> PassiveRtt::DispatchFrom(PacketSource* source, int max_packets) {
  // Straight from libpcap when the source is a libpcap handle (no
  // CapturedPacket built and read back per packet), else through DispatchTo.
  dispatch_link_type_ = source->link_type();
  const uint64_t tcp_packets = stats_.tcp_packets;
  counted_queued_ = 0;
  // Ethernet (nearly every capture) without a link type check per packet.
  absl::StatusOr<int> n =
      source->DispatchPcap(max_packets,
                           dispatch_link_type_ == kDltEn10mb ? &PassiveRtt::ReceivePcapEthernet
                                                             : &PassiveRtt::ReceivePcap,
                           reinterpret_cast<u_char*>(this));
  if (absl::IsUnimplemented(n.status())) {
    n = source->DispatchTo(max_packets, &PassiveRtt::ReceivePipelined, this);
  }
  DrainBatches();
  // QueueTimestamped's packets, counted now: every packet queued was
  // processed, and the others counted themselves.
  const uint64_t uncounted = stats_.tcp_packets - tcp_packets - counted_queued_;
  stats_.packets += uncounted;
  stats_.decode.counts[static_cast<size_t>(DecodeStatus::kOk)] += uncounted;
  return n;
}

void PassiveRtt::ReceivePipelined(void* passive_rtt, const CapturedPacket& packet) {
  static_cast<PassiveRtt*>(passive_rtt)->Enqueue(packet);
}

void PassiveRtt::ReceivePcapEthernet(u_char* passive_rtt, const pcap_pkthdr* header,
                                     const u_char* bytes) {
  auto* self = reinterpret_cast<PassiveRtt*>(passive_rtt);
  // Nearly every packet: IPv4, TCP with timestamps only, decoded with one
  // combined check straight into the batch; the rest out of line.
  TimestampedTcpSegment segment;
  if (ABSL_PREDICT_TRUE(PacketDecoder::DecodeEthernetTimestampedTcp(bytes, header->caplen,
                                                                    header->len, &segment))) {
    self->QueueTimestamped(pcap_internal::TimeNs(*header), segment);
  } else {
    self->ReceivePcapOther(header, bytes);
  }
}

void PassiveRtt::ReceivePcap(u_char* passive_rtt, const pcap_pkthdr* header, const u_char* bytes) {
  reinterpret_cast<PassiveRtt*>(passive_rtt)->ReceivePcapOther(header, bytes);
}

void PassiveRtt::ReceivePcapOther(const pcap_pkthdr* header, const u_char* bytes) {
  CapturedPacket packet;
  packet.time_ns = pcap_internal::TimeNs(*header);
  packet.bytes = absl::Span<const uint8_t>(bytes, header->caplen);
  packet.wire_length = header->len;
  packet.link_type = dispatch_link_type_;
  Enqueue(packet);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool PassiveRtt::DecodeSegment(const CapturedPacket& packet,
                                                                   TcpSegmentFields* segment) {
  // The fast path for plain TCP; anything else through the full decoder,
  // which counts why a packet is not a TCP segment.
  if (PacketDecoder::DecodeTcpSegment(packet.link_type, packet.bytes, packet.wire_length,
                                      segment)) {
    stats_.decode.Count(DecodeStatus::kOk);
    return true;
  }
  // Through a separate object, so that `segment`'s address never escapes:
  // the caller's fields can then stay in registers.
  TcpSegmentFields other;
  if (!DecodeOther(packet, &other)) return false;
  *segment = other;
  return true;
}

bool PassiveRtt::DecodeOther(const CapturedPacket& packet, TcpSegmentFields* segment) {
  DecodedPacket decoded;
  const DecodeStatus status =
      PacketDecoder::Decode(packet.link_type, packet.bytes, &decoded, packet.wire_length);
  stats_.decode.Count(status);
  if (status != DecodeStatus::kOk) return false;
  if (decoded.protocol != kIpProtoTcp) {
    ++stats_.non_tcp_packets;
    return false;
  }
  *segment = TcpSegmentFields::From(decoded);
  return true;
}

void PassiveRtt::SweepDue(int64_t time_ns) {
  Sweep(time_ns);
  next_sweep_ns_ = time_ns > std::numeric_limits<int64_t>::max() - sweep_interval_ns_
                       ? std::numeric_limits<int64_t>::max()
                       : time_ns + sweep_interval_ns_;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::ProcessFast(const Queued& q, int64_t time_ns,
                                                                 Flow* flow) {
  // What ProcessSlow does for such a packet of such a flow: count it and
  // match its timestamps (no handshake step, no SEQ/ACK, no close).
  // `key` is the entry's (SameKey), so the entry's cold part stays unread.
  CountPacket(time_ns, q.segment.ip_length, flow);
  TimestampEcho(time_ns, q.segment, q.side, flow, q.key);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Process(const Queued& q) {
  const int64_t time_ns = q.time_ns;
  if (time_ns >= next_sweep_ns_) SweepDue(time_ns);
  Flow* entry = nullptr;
  // The entry its home slot held a few packets ago (still an entry:
  // entries are reused, never freed), if it is still this flow: SameKey,
  // the family from the packet's kind. A free entry matches no key (Unlink
  // clears its meta), so `live` is not read.
  const uint32_t hint = q.entry_hint;
  if (ABSL_PREDICT_TRUE(hint - 1 < kNotFastHint - 1)) {
    // Nearly always: an IPv4 packet that may take the fast path (its hint
    // unmarked, PrefetchEntry).
    Flow& hinted = entries_[hint - 1];
    if (((hinted.key_meta ^ q.key.meta) | (hinted.key_word ^ q.key.word)) == 0) {
      if (ABSL_PREDICT_TRUE(hinted.fast)) {
        ProcessFast(q, time_ns, &hinted);
        return;
      }
      entry = &hinted;
    }
  } else if (hint > kNotFastHint) {
    Flow& hinted = entries_[hint - kNotFastHint - 1];
    if (((hinted.key_meta ^ q.key.meta) | (hinted.key_word ^ q.key.word)) == 0 &&
        ((q.kind & kIpv6) == 0 || SameV6Tail(hinted, q.key))) {
      entry = &hinted;
    }
  }
  size_t empty_slot = 0;  // where Find stopped, when it found nothing
  if (entry == nullptr) entry = Find(q.key, q.hash, &empty_slot);
  if ((q.kind & kMaybeFast) != 0 && entry != nullptr && entry->fast) {
    ProcessFast(q, time_ns, entry);
    return;
  }
  ProcessQueuedSlow(q, entry, empty_slot);
}

void PassiveRtt::ProcessQueuedSlow(const Queued& q, Flow* entry, size_t empty_slot) {
  // ProcessSlow's shortcuts for tracked flows, tested first: a timestamped
  // segment without SYN or RST (not a new connection) of a flow not known
  // to lack timestamps, and a timestamped SYN-ACK (AnswerSyn's own test
  // falls back to ProcessSlow).
  const Segment& tcp = q.segment;
  if (entry != nullptr && tcp.has_timestamps && !options_.general_path_only) {
    if ((tcp.flags & (kTcpSyn | kTcpRst)) == 0 && entry->uses_timestamps != 0) {
      ContinueQueued(q, entry);
      return;
    }
    if ((tcp.flags & (kTcpSyn | kTcpAck | kTcpFin | kTcpRst)) == (kTcpSyn | kTcpAck)) {
      AnswerQueued(q, entry, empty_slot);
      return;
    }
  }
  ProcessQueuedOther(q, entry, empty_slot);
}

VANTAGE_NO_SLP_VECTORIZE void PassiveRtt::AnswerQueued(const Queued& q, Flow* flow,
                                                       size_t empty_slot) {
  if (!AnswerSyn(q.time_ns, q.segment, q.side, flow, q.key)) {
    ProcessQueuedOther(q, flow, empty_slot);
  }
}

VANTAGE_NO_SLP_VECTORIZE void PassiveRtt::ProcessQueuedOther(const Queued& q, Flow* entry,
                                                             size_t empty_slot) {
  ProcessSlow(q.time_ns, q.segment, q.key, q.hash, q.side, entry, empty_slot);
}

VANTAGE_NO_SLP_VECTORIZE void PassiveRtt::ContinueQueued(const Queued& q, Flow* flow) {
  ContinueTimestamped(q.time_ns, q.segment, q.side, flow, q.key);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Enqueue(const CapturedPacket& packet) {
  ++stats_.packets;
  // Decoded, keyed and hashed in registers (all inline), then stored once.
  // Plain IPv4 TCP (nearly every packet) is keyed knowing its family; the
  // rest goes through the full decoder, out of line.
  TcpSegmentFields fields;
  if (ABSL_PREDICT_TRUE(PacketDecoder::DecodeTcpSegment(packet.link_type, packet.bytes,
                                                        packet.wire_length, &fields))) {
    stats_.decode.Count(DecodeStatus::kOk);
    Queue</*kIpv4=*/true>(packet.time_ns, fields);
  } else {
    EnqueueOther(packet);
  }
}

void PassiveRtt::EnqueueOther(const CapturedPacket& packet) {
  TcpSegmentFields fields;
  if (DecodeOther(packet, &fields)) Queue</*kIpv4=*/false>(packet.time_ns, fields);
}

template <bool kIpv4>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Queue(int64_t time_ns,
                                                           const TcpSegmentFields& fields) {
  Queued& q = *fill_;
  int side;
  const uint64_t hash = MakeKey<kIpv4>(fields, &q.key, &side);
  q.hash = hash;
  q.side = static_cast<uint8_t>(side);
  q.segment = Segment::Of(fields);
  q.kind = KindOf(q.segment, q.key);
  q.time_ns = time_ns;
  ++counted_queued_;
  Commit(&q, hash);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::QueueTimestamped(
    int64_t time_ns, const TimestampedTcpSegment& fields) {
  // Counted in stats_.packets and as decoded by DispatchFrom (from
  // tcp_packets) when it returns.
  // The segment's fields first, then the key (GCC keeps this order: the
  // registers they held are free for the key and hash).
  Queued& q = *fill_;
  q.time_ns = time_ns;
  // {ack, seq} and {tsecr, tsval} as the decoder's words.
  static_assert(offsetof(Segment, seq) == offsetof(Segment, ack) + 4 &&
                offsetof(Segment, tsval) == offsetof(Segment, tsecr) + 4);
  std::memcpy(&q.segment.ack, &fields.ack_seq, 8);
  std::memcpy(&q.segment.tsecr, &fields.tsecr_tsval, 8);
  q.segment.payload_length = fields.payload_length();
  q.segment.ip_length = fields.ip_length;
  q.segment.flags = fields.flags;
  q.segment.has_timestamps = true;
  // IPv4, with timestamps.
  q.kind = (fields.flags & (kTcpSyn | kTcpFin | kTcpRst)) == 0 ? kMaybeFast : 0;
  int side;
  const uint64_t hash = MakeKeyV4(fields.addresses, fields.ports, &q.key, &side);
  q.hash = hash;
  q.side = static_cast<uint8_t>(side);
  Commit(&q, hash);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Commit(Queued* q, uint64_t hash) {
  // Its home slot, read when the batch is full (from the register: the
  // queued stores would make the compiler reload q.hash).
  const auto home = static_cast<uint32_t>(hash >> home_shift_);
  __builtin_prefetch(&slots_[home]);
  q->home_slot = home;
  fill_ = q + 1;
  if (q + 1 == fill_end_) BatchFull();
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::PrefetchEntry(Queued* q) {
  // Its slot among the first few of its probe run (at most half full, the
  // table keeps runs short), else the free entry a new flow would take.
  // Hints only: the table may change before the packet is processed
  // (Process checks the hint).
  // The hash's top half (a 4-byte load: little-endian).
  uint32_t tag;
  std::memcpy(&tag, reinterpret_cast<const char*>(&q->hash) + 4, sizeof(tag));
  size_t i = q->home_slot;
  Slot slot = slots_[i];
  // Its home slot, nearly always (an empty one, whose tag is 0, gives no
  // hint).
  uint32_t hint = slot.entry;
  if (slot.tag != tag) {
    hint = 0;
    const size_t mask = slot_mask_;
    for (int probe = 1; slot.entry != 0 && probe < 4; ++probe) {
      i = (i + 1) & mask;
      slot = slots_[i];
      if (slot.tag == tag) {
        hint = slot.entry;
        break;
      }
    }
  }
  // Nearly always an IPv4 packet that may take the fast path, of a known
  // flow: its hint as is and the hot lines, nothing more (one compare).
  static_assert(kHotLines == 2 && sizeof(Flow) == 256);
  // Entry `index + 1`'s first byte (in bounds: no pointer before the
  // array is formed).
  auto line0 = [this](uint32_t index_plus_one) {
    return reinterpret_cast<const char*>(entries_.data() + (index_plus_one - 1));
  };
  const uint8_t kind = q->kind;
  if (ABSL_PREDICT_TRUE(kind == kMaybeFast && hint != 0)) {
    q->entry_hint = hint;
    __builtin_prefetch(line0(hint));
    __builtin_prefetch(line0(hint) + 64);
    return;
  }
  // Any other hint marked (Process then skips the fast path's test).
  q->entry_hint = hint == 0 ? 0 : hint | kNotFastHint;
  uint32_t entry = hint;
  if (hint == 0) {
    if (slot.entry != 0 || free_entries_.empty()) return;
    entry = free_entries_.back() + 1;
  }
  // The hot lines; the rest only for a packet that may not take the fast
  // path (or a new flow's entry).
  const char* begin = line0(entry);
  __builtin_prefetch(begin);
  __builtin_prefetch(begin + 64);
  if ((kind & kMaybeFast) == 0 || hint == 0) {
    for (size_t line = kHotLines * 64; line < sizeof(Flow); line += 64) {
      __builtin_prefetch(begin + line);
    }
  }
  // The rest of an IPv6 key, which the lookup compares.
  if ((kind & kIpv6) != 0 && hint != 0) __builtin_prefetch(&keys_v6_[hint - 1]);
}

VANTAGE_NO_SLP_VECTORIZE void PassiveRtt::BatchFull() {
  // The other batch's packets (their entries were prefetched a batch ago),
  // each followed by this one's next entry prefetch (its slot has arrived
  // meanwhile): the misses spread evenly, a batch ahead. This batch is
  // processed when the next one is full.
  Queued* full = batches_[filling_].data();
  const Queued* ready = batches_[filling_ ^ 1].data();
  if (ready_ == kBatchSize) {
    PrefetchSampleLines(ready, kBatchSize);
    stats_.tcp_packets += kBatchSize;
    for (size_t i = 0; i < kBatchSize; ++i) {
      PrefetchEntry(&full[i]);
      Process(ready[i]);
    }
  } else {
    for (size_t i = 0; i < kBatchSize; ++i) PrefetchEntry(&full[i]);
  }
  ready_ = kBatchSize;
  filling_ ^= 1;
  fill_ = batches_[filling_].data();
  fill_end_ = fill_ + kBatchSize;
}

void PassiveRtt::DrainBatches() {
  ProcessBatch(batches_[filling_ ^ 1].data(), ready_);
  ready_ = 0;
  Queued* filled = batches_[filling_].data();
  const auto n = static_cast<size_t>(fill_ - filled);
  for (size_t i = 0; i < n; ++i) PrefetchEntry(&filled[i]);
  ProcessBatch(filled, n);
  fill_ = filled;
}

void PassiveRtt::ProcessBatch(const Queued* queued, size_t n) {
  PrefetchSampleLines(queued, n);
  stats_.tcp_packets += n;
  for (size_t i = 0; i < n; ++i) {
    Process(queued[i]);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::PrefetchSampleLines(const Queued* queued,
                                                                         size_t n) {
  // Only when the live flows' sample buffers outgrow the L2 cache: below
  // that the lines are near, and the prefetch costs more than it saves.
  if (!batching_ || live_flows_ < kPrefetchSamplesAbove) return;
  // The line each packet's sample would go to (the entries have arrived).
  for (size_t i = 0; i < n; ++i) {
    const uint32_t hint = queued[i].entry_hint & ~kNotFastHint;
    if (hint == 0) continue;
    // An entry index stays valid: entries are reused, never freed. A
    // buffer never stays full (Emit flushes it at kSampleBatch).
    const Flow& flow = entries_[hint - 1];
    __builtin_prefetch(&sample_buffers_[hint - 1][flow.sample_count]);
  }
}

void PassiveRtt::OnCapturedPacket(const CapturedPacket& packet) {
  ++stats_.packets;
  TcpSegmentFields segment;
  if (DecodeSegment(packet, &segment)) OnTcpSegment(packet.time_ns, segment);
}

int PassiveRtt::ConfiguredClientSide(const FlowKey& key) const {
  auto local_address = [this](const IpAddress& a) {
    return std::any_of(options_.local_prefixes.begin(), options_.local_prefixes.end(),
                       [&a](const Prefix& p) { return p.Contains(a); });
  };
  const bool a0 = !options_.local_prefixes.empty() && local_address(key.Address(0));
  const bool a1 = !options_.local_prefixes.empty() && local_address(key.Address(1));
  if (a0 != a1) return a0 ? 1 : 0;
  auto local_port = [this](uint16_t port) {
    return std::find(options_.local_ports.begin(), options_.local_ports.end(), port) !=
           options_.local_ports.end();
  };
  const bool p0 = local_port(key.port(0));
  const bool p1 = local_port(key.port(1));
  if (p0 != p1) return p0 ? 1 : 0;
  return -1;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint8_t PassiveRtt::ChooseClientSide(const FlowKey& key,
                                                                         int side,
                                                                         uint8_t flags) const {
  if (sides_configured_) {
    const int configured = ConfiguredClientSide(key);
    if (configured >= 0) return static_cast<uint8_t>(configured);
  }
  if ((flags & kTcpSyn) != 0) {
    // The SYN's sender is the client; a SYN-ACK's receiver is.
    return static_cast<uint8_t>((flags & kTcpAck) == 0 ? side : 1 - side);
  }
  // Mid-flow without configuration: the ephemeral (higher) port is the client.
  if (key.port(0) != key.port(1)) return key.port(0) > key.port(1) ? 0 : 1;
  return 0;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t PassiveRtt::MakeKeyV4(uint64_t addresses,
                                                                   uint32_t ports, FlowKey* key,
                                                                   int* side) {
  // A total order on (address, port), cheaper than lexicographic on the
  // address bytes: only consistency matters, so both directions of a flow
  // get the same key. Destination first is the source-first words rotated.
  const auto src = static_cast<uint32_t>(addresses);
  const auto dst = static_cast<uint32_t>(addresses >> 32);
  const bool src_first = src != dst ? src < dst : (ports >> 16) < (ports & 0xffff);
  *side = src_first ? 0 : 1;
  const uint64_t word = src_first ? addresses : std::rotr(addresses, 32);
  // The source port in the low half when the source is first.
  const uint32_t meta_ports = src_first ? std::rotr(ports, 16) : ports;
  const uint64_t meta = meta_ports | uint64_t{4} << 32;
  key->word = word;
  key->meta = meta;
  return HashV4(word, meta);
}

template <bool kIpv4>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t PassiveRtt::MakeKey(const TcpSegmentFields& packet,
                                                                 FlowKey* key, int* side) {
  // Both endpoints of a packet have the same family.
  const uint64_t s0 = packet.src[0];
  const uint64_t d0 = packet.dst[0];
  if (kIpv4 || packet.family == 4) {
    // The addresses are in the low 32 bits (the decoder zeroes the rest).
    return MakeKeyV4(s0 | d0 << 32, static_cast<uint32_t>(packet.src_port) << 16 | packet.dst_port,
                     key, side);
  }
  const uint64_t s1 = packet.src[1];
  const uint64_t d1 = packet.dst[1];
  const bool src_first = s0 != d0   ? s0 < d0
                         : s1 != d1 ? s1 < d1
                                    : packet.src_port < packet.dst_port;
  *side = src_first ? 0 : 1;
  key->word = src_first ? s0 : d0;
  key->v6[0] = src_first ? s1 : d1;
  key->v6[1] = src_first ? d0 : s0;
  key->v6[2] = src_first ? d1 : s1;
  const uint64_t port_lo = src_first ? packet.src_port : packet.dst_port;
  const uint64_t port_hi = src_first ? packet.dst_port : packet.src_port;
  key->meta = port_lo | port_hi << 16 | static_cast<uint64_t>(packet.family) << 32;
  return HashKey(*key);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline PassiveRtt::Flow* PassiveRtt::Create(int64_t time_ns,
                                                                         const Segment& packet,
                                                                         const FlowKey& key,
                                                                         uint64_t hash, int side,
                                                                         size_t empty_slot) {
  // Nothing to track in a reset, a FIN or a bare ACK of an unknown flow (the
  // tail of a connection whose start we missed); data or a SYN starts one.
  if ((packet.flags & (kTcpRst | kTcpFin)) != 0 ||
      ((packet.flags & kTcpSyn) == 0 && packet.payload_length == 0)) {
    return nullptr;
  }
  // The table full or due to grow: both tested at once (MakeRoom).
  if (ABSL_PREDICT_FALSE(live_flows_ >= make_room_at_) &&
      !MakeRoom(time_ns, key, hash, &empty_slot)) {
    return nullptr;
  }
  Flow* entry = Insert(key, hash, empty_slot);
  Flow& flow = *entry;
  flow.id = next_flow_id_++;
  flow.client_side = ChooseClientSide(key, side, packet.flags);
  // An IPv4 client's address is a word of the key.
  if (key.v4()) {
    prefixer_.ClientPrefixV4(static_cast<uint32_t>(key.word >> (32 * flow.client_side)),
                             &flow.client_prefix);
  } else {
    flow.client_prefix = prefixer_.ClientPrefix(key.Address(flow.client_side));
  }
  flow.first_seen_ns = time_ns;
  flow.last_seen_ns = time_ns;
  ++stats_.flows_created;
  if (batching_) {
    flow.flow_unreported = true;
  } else {
    sink_->OnFlow(absl::FromUnixNanos(time_ns), flow.client_prefix);
  }
  return entry;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool PassiveRtt::IsNewConnection(const Flow& flow, int side,
                                                                     const Segment& tcp) {
  if ((tcp.flags & (kTcpSyn | kTcpAck)) != kTcpSyn) return false;
  const Direction& dir = flow.dir[side];
  if (dir.syn_count > 0 && tcp.seq == dir.syn_seq) return false;  // a retransmission
  return flow.handshake_done || dir.syn_count > 0 || dir.seq_seen || flow.ts_seen[side];
}

void PassiveRtt::OnDecodedPacket(absl::Time time, const DecodedPacket& packet) {
  OnTcpSegment(absl::ToUnixNanos(time), TcpSegmentFields::From(packet));
}

void PassiveRtt::OnDecodedPacketNs(int64_t time_ns, const DecodedPacket& packet) {
  OnTcpSegment(time_ns, TcpSegmentFields::From(packet));
}

void PassiveRtt::OnTcpSegment(int64_t time_ns, const TcpSegmentFields& tcp) {
  FlowKey key;
  int side = 0;
  const uint64_t hash = MakeKey</*kIpv4=*/false>(tcp, &key, &side);
  ++stats_.tcp_packets;
  Queued q{time_ns, hash, key, Segment::Of(tcp), 0, 0, static_cast<uint8_t>(side), 0};
  q.kind = KindOf(q.segment, q.key);
  Process(q);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::ProcessSlow(int64_t time_ns,
                                                                 const Segment& tcp,
                                                                 const FlowKey& packet_key,
                                                                 uint64_t hash, int side,
                                                                 Flow* entry, size_t empty_slot) {
  if (entry == nullptr) {
    entry = Create(time_ns, tcp, packet_key, hash, side, empty_slot);
    if (entry == nullptr) return;
    // Create took no FIN or RST.
    if (!options_.general_path_only) {
      if ((tcp.flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
        StartWithSyn(time_ns, tcp, side, entry);
        return;
      }
      if ((tcp.flags & kTcpSyn) == 0 && tcp.has_timestamps) {
        ContinueTimestamped(time_ns, tcp, side, entry, packet_key);
        return;
      }
    }
  } else if (IsNewConnection(*entry, side, tcp)) {
    EndFlow</*kCounted=*/false>(entry);
    size_t slot = 0;
    Find(packet_key, hash, &slot);  // nothing (just erased): where the key goes now
    entry = Create(time_ns, tcp, packet_key, hash, side, slot);
    if (entry == nullptr) return;
    // A SYN without ACK (IsNewConnection), FIN or RST (Create).
    if (!options_.general_path_only) {
      StartWithSyn(time_ns, tcp, side, entry);
      return;
    }
  }
  const FlowKey& key = packet_key;  // the entry's (SameKey)
  Flow& flow = *entry;
  CountPacket(time_ns, tcp.ip_length, &flow);
  if ((tcp.flags & kTcpRst) != 0) {
    // A reset may still echo a TSval (an abort sends one with options).
    if (tcp.has_timestamps) TimestampEcho(time_ns, tcp, side, &flow, key);
    EndFlow</*kCounted=*/true>(entry);
    return;
  }
  if ((tcp.flags & kTcpSyn) != 0 || !flow.handshake_done) {
    Handshake(time_ns, tcp, side, &flow, key);
  }
  if (flow.uses_timestamps < 0 && (tcp.flags & kTcpSyn) == 0) {
    flow.uses_timestamps = tcp.has_timestamps ? 1 : 0;
  }
  if (tcp.has_timestamps) TimestampEcho(time_ns, tcp, side, &flow, key);
  if (flow.uses_timestamps == 0) SeqAck(time_ns, tcp, side, &flow, key);
  if (CloseStep(tcp, side, &flow) == CloseState::kClosed) {
    EndFlow</*kCounted=*/true>(entry);
    return;
  }
  flow.fast =
      flow.uses_timestamps == 1 && OpenAndPastHandshake(flow) && !options_.general_path_only;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline PassiveRtt::CloseState PassiveRtt::CloseStep(const Segment& tcp,
                                                                                 int side,
                                                                                 Flow* flow) {
  Close& me = flow->close[side];
  if ((tcp.flags & kTcpFin) != 0 && !me.fin_seen) {
    me.fin_seen = true;
    me.fin_next = tcp.seq + tcp.payload_length + 1;
  }
  // Without the other side's FIN, nothing to acknowledge and no complete
  // close (the common case: the handshake's ACK, the first FIN).
  Close& other = flow->close[1 - side];
  if (!other.fin_seen) return me.fin_seen ? CloseState::kClosing : CloseState::kOpen;
  if ((tcp.flags & kTcpAck) != 0 && !SerialAfter(other.fin_next, tcp.ack)) other.fin_acked = true;
  return other.fin_acked && me.fin_acked ? CloseState::kClosed : CloseState::kClosing;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::ContinueTimestamped(int64_t time_ns,
                                                                         const Segment& tcp,
                                                                         int side, Flow* flow,
                                                                         const FlowKey& key) {
  // The general path's steps for it: no reset; Handshake only before the
  // handshake is done, and without SYN only its ACK step; a segment without
  // SYN decides timestamp use (yes: it has them; the flow's was not "no");
  // so TimestampEcho and no SeqAck; then the close, and the fast path's
  // condition with timestamp use known to be yes.
  CountPacket(time_ns, tcp.ip_length, flow);
  if (!flow->handshake_done) HandshakeAck(time_ns, tcp, side, flow, key);
  flow->uses_timestamps = 1;
  TimestampEcho(time_ns, tcp, side, flow, key);
  switch (CloseStep(tcp, side, flow)) {
    case CloseState::kOpen:
      // OpenAndPastHandshake, its FINs known unseen.
      flow->fast = flow->handshake_done || flow->initiator < 0;
      return;
    case CloseState::kClosing:
      flow->fast = false;
      return;
    case CloseState::kClosed:
      EndFlow</*kCounted=*/true>(flow);
      return;
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline bool PassiveRtt::AnswerSyn(int64_t time_ns, const Segment& tcp,
                                                               int side, Flow* flow,
                                                               const FlowKey& key) {
  // The general path's steps for it (Handshake's SYN-ACK step with both
  // SYNs timed and timestamps in both: one handshake sample, timestamp use
  // decided yes; TimestampEcho; no SeqAck; no FIN to count; off the fast
  // path while the handshake is not done), straight.
  Direction& me = flow->dir[side];
  const Direction& initiator = flow->dir[1 - side];
  // (No SYN-ACK from this side, me.syn_count == 0, implies the handshake
  // is not done: HandshakeAck needs the responder's SYN-ACK.)
  if (flow->initiator != 1 - side || initiator.syn_count != 1 || me.syn_count != 0 ||
      !initiator.syn_timestamps || tcp.ack != initiator.syn_seq + 1 || flow->close[0].fin_seen ||
      flow->close[1].fin_seen) {
    return false;
  }
  CountPacket(time_ns, tcp.ip_length, flow);
  me.syn_seq = tcp.seq;
  me.syn_timestamps = true;
  me.syn_count = 1;
  me.syn_time_ns = time_ns;
  flow->uses_timestamps = 1;
  Emit(time_ns, Elapsed(time_ns, initiator.syn_time_ns), RttMethod::kHandshake, side, flow, key);
  TimestampEcho(time_ns, tcp, side, flow, key);
  flow->fast = false;
  return true;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::StartWithSyn(int64_t time_ns,
                                                                  const Segment& tcp, int side,
                                                                  Flow* flow) {
  // What the general path below does with it, straight: the flow is fresh
  // (no SYN, TSval, pending value or FIN seen), so the SYN is the
  // initiator's first (Handshake), it has no ACK to echo (TimestampEcho)
  // and decides nothing about timestamps (uses_timestamps stays unknown, so
  // no SeqAck), and the flow stays off the fast path (handshake not done).
  // Create set last_seen_ns.
  flow->unreported_packets = 1;
  flow->unreported_bytes = tcp.ip_length;
  flow->initiator = static_cast<int8_t>(side);
  Direction& me = flow->dir[side];
  me.syn_seq = tcp.seq;
  me.syn_timestamps = tcp.has_timestamps;
  me.syn_count = 1;
  me.syn_time_ns = time_ns;
  if (tcp.has_timestamps) {
    flow->ts_seen[side] = true;
    flow->last_tsval[side] = tcp.tsval;
    Record(flow, side, tcp.tsval, time_ns);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Handshake(int64_t time_ns, const Segment& tcp,
                                                               int side, Flow* flow,
                                                               const FlowKey& key) {
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
    me.syn_time_ns = time_ns;  // the latest, as Wireshark's ts_mru_syn
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
      me.syn_time_ns = time_ns;
      if (initiator.syn_count > 0) {
        flow->uses_timestamps = initiator.syn_timestamps && tcp.has_timestamps ? 1 : 0;
        if (flow->uses_timestamps == 0) {
          flow->pending_head[0].size = 0;
          flow->pending_head[1].size = 0;
        }
      }
      if (initiator.syn_count == 1) {
        Emit(time_ns, Elapsed(time_ns, initiator.syn_time_ns), RttMethod::kHandshake, side, flow,
             key);
      } else if (initiator.syn_count > 1) {
        ++stats_.karn_discarded;  // which SYN did it answer?
      }
    } else if (tcp.seq == me.syn_seq) {
      ++me.syn_count;
      me.syn_time_ns = time_ns;
    }
    return;
  }
  HandshakeAck(time_ns, tcp, side, flow, key);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::HandshakeAck(int64_t time_ns,
                                                                  const Segment& tcp, int side,
                                                                  Flow* flow, const FlowKey& key) {
  if ((tcp.flags & kTcpAck) != 0 && !flow->handshake_done && flow->initiator == side) {
    const Direction& responder = flow->dir[1 - side];
    if (responder.syn_count > 0 && tcp.ack == responder.syn_seq + 1) {
      flow->handshake_done = true;
      if (responder.syn_count == 1) {
        Emit(time_ns, Elapsed(time_ns, responder.syn_time_ns), RttMethod::kHandshake, side, flow,
             key);
      } else {
        ++stats_.karn_discarded;
      }
    }
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Record(Flow* flow, int side, uint32_t value,
                                                            int64_t time_ns) {
  // Without a rate limit, under the bound and in the entry: in place.
  PendingHead& head = flow->pending_head[side];
  const uint32_t n = head.size;
  if (ABSL_PREDICT_TRUE(n < record_inline_below_)) {
    head.value[n] = value;
    head.time_ns[n] = time_ns;
    head.size = n + 1;
    return;
  }
  RecordSlow(flow, side, value, time_ns);
}

void PassiveRtt::RecordSlow(Flow* flow, int side, uint32_t value, int64_t time_ns) {
  if (min_sample_interval_ns_ > 0) {
    // The rate limit's state is aside (rate_limits_): touched only when the
    // limit is on.
    RateLimit& limit = rate_limits_[IndexOf(*flow)];
    if (limit.recorded_any[side] &&
        Elapsed(time_ns, limit.last_recorded_ns[side]) < min_sample_interval_ns_) {
      ++stats_.rate_limited;
      return;
    }
    limit.last_recorded_ns[side] = time_ns;
    limit.recorded_any[side] = true;
  }
  PendingList pending = flow->pending(side);
  if (pending.size() >= options_.max_pending_per_direction) {
    pending.PopFront(1);
    ++stats_.pending_evicted;
  }
  pending.PushBack(value, time_ns);
}

void PassiveRtt::MatchPending(int64_t time_ns, uint32_t echo, RttMethod method, int side,
                              Flow* flow, const FlowKey& key) {
  // Echoes only move forward: values older than this echo never will be.
  PendingHead& head = flow->pending_head[1 - side];
  if (const uint32_t n = head.size; n <= 2) {
    // All in the head (nearly always: a TSval never echoed, then the one
    // echoed now): the loop below without the spill.
    uint32_t consumed = 0;
    for (; consumed < n && !SerialAfter(head.value[consumed], echo); ++consumed) {
      if (head.value[consumed] == echo) {
        EmitEcho(time_ns, head.time_ns[consumed], method, side, flow, key);
      }
    }
    if (consumed == n) {
      head.size = 0;
    } else if (consumed == 1) {  // of two
      head.value[0] = head.value[1];
      head.time_ns[0] = head.time_ns[1];
      head.size = 1;
    }
    return;
  }
  PendingList pending = flow->pending(1 - side);
  size_t consumed = 0;
  while (consumed < pending.size() && !SerialAfter(pending.value(consumed), echo)) {
    if (pending.value(consumed) == echo) {
      EmitEcho(time_ns, pending.time_ns(consumed), method, side, flow, key);
    }
    ++consumed;
  }
  if (consumed == pending.size()) {
    pending.clear();
  } else if (consumed > 0) {
    pending.PopFront(consumed);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::TimestampEcho(int64_t time_ns,
                                                                   const Segment& tcp, int side,
                                                                   Flow* flow, const FlowKey& key) {
  // TSecr is meaningful only with ACK set (RFC 7323 3.2).
  PendingList pending = flow->pending(1 - side);
  if ((tcp.flags & kTcpAck) != 0 && !pending.empty() &&
      !SerialAfter(pending.front_value(), tcp.tsecr)) {
    if (pending.size() == 1) {
      // The common case: one TSval pending, echoed (or passed) now.
      if (pending.front_value() == tcp.tsecr) {
        EmitEcho(time_ns, pending.front_time_ns(), RttMethod::kTimestamp, side, flow, key);
      }
      pending.clear();
    } else {
      MatchPending(time_ns, tcp.tsecr, RttMethod::kTimestamp, side, flow, key);
    }
  }
  // TSval once (the flag's store would make the compiler read it again).
  if (const uint32_t tsval = tcp.tsval;
      !flow->ts_seen[side] || SerialAfter(tsval, flow->last_tsval[side])) {
    flow->ts_seen[side] = true;
    flow->last_tsval[side] = tsval;
    Record(flow, side, tsval, time_ns);
  }
}

void PassiveRtt::SeqAck(int64_t time_ns, const Segment& tcp, int side, Flow* flow,
                        const FlowKey& key) {
  if ((tcp.flags & kTcpAck) != 0 && flow->pending_head[1 - side].size != 0) {
    MatchPending(time_ns, tcp.ack, RttMethod::kSeqAck, side, flow, key);
  }
  Direction& me = flow->dir[side];
  if (tcp.payload_length == 0 || (tcp.flags & kTcpSyn) != 0) return;
  const uint32_t end = tcp.seq + tcp.payload_length;
  if (!me.seq_seen) {
    me.seq_seen = true;
    me.next_seq = end;
    Record(flow, side, end, time_ns);
    return;
  }
  if (!SerialAfter(me.next_seq, tcp.seq)) {
    // Starts at or beyond the highest byte sent: new data only.
    me.next_seq = end;
    Record(flow, side, end, time_ns);
    return;
  }
  // Covers bytes sent before: a retransmission. Karn: acks of segments it
  // overlaps are ambiguous, so those pending segments give no sample.
  PendingList pending = flow->pending(side);
  size_t first_hit = 0;
  while (first_hit < pending.size() && !SerialAfter(pending.value(first_hit), tcp.seq)) {
    ++first_hit;
  }
  stats_.karn_discarded += pending.size() - first_hit;
  pending.Truncate(first_hit);
  if (SerialAfter(end, me.next_seq)) {
    // Also carries new bytes: its own end is unambiguous.
    me.next_seq = end;
    Record(flow, side, end, time_ns);
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::Emit(int64_t time_ns, int64_t rtt_ns,
                                                          RttMethod method, int responder_side,
                                                          Flow* flow, const FlowKey& key) {
  if (rtt_ns < 0) return;  // clock stepped back in the capture
  ++stats_.samples[static_cast<size_t>(method)];
  const RttLeg leg = responder_side == flow->client_side ? RttLeg::kClient : RttLeg::kServer;
  if (!batching_) {
    EmitSample(time_ns, rtt_ns, method, leg, *flow, key);
    return;
  }
  sample_buffers_[IndexOf(*flow)][flow->sample_count++] =
      FlowRttSample(time_ns, rtt_ns, method, leg);
  if (flow->sample_count == kSampleBatch) FlushSamples(flow);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::EmitEcho(int64_t time_ns, int64_t sent_ns,
                                                              RttMethod method, int responder_side,
                                                              Flow* flow, const FlowKey& key) {
  // Nearly always in [0, emit_unchecked_below_ns_): one compare (no
  // overflow: the difference then is the saturated one).
  int64_t rtt;
  if (ABSL_PREDICT_TRUE(!__builtin_sub_overflow(time_ns, sent_ns, &rtt) &&
                        static_cast<uint64_t>(rtt) < emit_unchecked_below_ns_)) {
    EmitInRange(time_ns, rtt, method, responder_side, flow);
    return;
  }
  rtt = Elapsed(time_ns, sent_ns);
  if (rtt <= tsval_max_age_ns_) {
    Emit(time_ns, rtt, method, responder_side, flow, key);
  } else {
    ++stats_.pending_expired;
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PassiveRtt::EmitInRange(int64_t time_ns, int64_t rtt_ns,
                                                                 RttMethod method,
                                                                 int responder_side, Flow* flow) {
  // Emit for such a sample: no negative RTT to drop, none to clamp, a
  // batching sink; the leg is the sides' difference (both 0 or 1: kClient
  // when equal).
  ++stats_.samples[static_cast<size_t>(method)];
  const auto leg = static_cast<RttLeg>(responder_side ^ flow->client_side);
  sample_buffers_[IndexOf(*flow)][flow->sample_count++] =
      FlowRttSample::InRange(time_ns, rtt_ns, method, leg);
  if (flow->sample_count == kSampleBatch) FlushSamples(flow);
}

void PassiveRtt::EmitSample(int64_t time_ns, int64_t rtt_ns, RttMethod method, RttLeg leg,
                            const Flow& flow, const FlowKey& key) {
  RttSample sample;
  sample.time = absl::FromUnixNanos(time_ns);
  sample.rtt = absl::Nanoseconds(rtt_ns);
  sample.method = method;
  sample.leg = leg;
  sample.client_prefix = flow.client_prefix;
  sample.flow_id = flow.id;
  const int server_side = 1 - flow.client_side;
  sample.server = Endpoint(key.Address(server_side), key.port(server_side));
  sample.client_port = key.port(flow.client_side);
  if (options_.expose_client_addresses) sample.client_address = key.Address(flow.client_side);
  sink_->OnSample(sample);
}

void PassiveRtt::Sweep(int64_t now_ns) {
  for (Flow& entry : entries_) {
    if (!entry.live) continue;
    Flow& flow = entry;
    ReportFlow(&flow);
    if (Elapsed(now_ns, flow.last_seen_ns) > flow_idle_timeout_ns_) {
      Erase(&entry);
      ++stats_.flows_evicted_idle;
      continue;
    }
    for (int side = 0; side < 2; ++side) {
      PendingList pending = flow.pending(side);
      size_t stale = 0;
      while (stale < pending.size() &&
             Elapsed(now_ns, pending.time_ns(stale)) > tsval_max_age_ns_) {
        ++stale;
      }
      stats_.pending_expired += stale;
      pending.PopFront(stale);
    }
  }
}

}  // namespace vantage::probe
