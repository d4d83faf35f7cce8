#include "probe/client_prefix_aggregator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

namespace vantage::probe {

namespace {

constexpr int kInitialTableBits = 6;

}  // namespace

uint64_t ClientPrefixAggregator::Hash(int64_t window_index, const Prefix& prefix) {
  uint64_t w0;
  uint64_t w1;
  std::memcpy(&w0, prefix.address().bytes(), 8);
  std::memcpy(&w1, prefix.address().bytes() + 8, 8);
  uint64_t h = static_cast<uint64_t>(window_index) * 0x9e3779b97f4a7c15ULL;
  h ^=
      static_cast<uint64_t>(prefix.length()) << 1 | static_cast<uint64_t>(prefix.address().is_v6());
  h = (h ^ w0) * 0xff51afd7ed558ccdULL;
  h = (h ^ (h >> 32) ^ w1) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  return h * 0x9e3779b97f4a7c15ULL;
}

ClientPrefixAggregator::ClientPrefixAggregator(absl::Duration window, size_t max_entries,
                                               double sketch_alpha)
    : window_(window > absl::ZeroDuration() ? window : absl::Minutes(1)),
      window_ns_(window_ == absl::InfiniteDuration() ? 0 : absl::ToInt64Nanoseconds(window_)),
      max_entries_(max_entries),
      prototype_(sketch_alpha) {
  // The header's memory figure: a cache line of key and counters, one per
  // method and leg.
  static_assert(sizeof(Slot) == 64 * (1 + kRttSeries));
  Rehash(size_t{1} << kInitialTableBits);
  // Cells of an octave / 2^b, narrower than a bucket (ratio gamma = (1 +
  // alpha) / (1 - alpha)) by half: up to 8 bits (1% sketches need 7).
  const double alpha = prototype_.alpha();
  const double bucket = (1 + alpha) / (1 - alpha) - 1;
  for (int bits = 1; bits <= 8; ++bits) {
    if (std::ldexp(1.0, -bits) < bucket / 2) {
      sub_bits_ = bits;
      break;
    }
  }
  if (sub_bits_ > 0) {
    cells_.resize(size_t{64} << sub_bits_);
    sub_mask_ = (size_t{1} << sub_bits_) - 1;
    min_cached_ns_ = int64_t{1} << sub_bits_;
  }
}

int32_t ClientPrefixAggregator::IndexSlow(int64_t rtt_ns) {
  // ns / 1000.0 is what ToDoubleMicroseconds gives for whole nanoseconds.
  auto index = [this](int64_t ns) { return prototype_.Index(static_cast<double>(ns) / 1000.0); };
  if (rtt_ns < min_cached_ns_) return index(rtt_ns);
  const int octave = 63 - std::countl_zero(static_cast<uint64_t>(rtt_ns));
  const int shift = octave - sub_bits_;
  IndexCell& cell = cells_[static_cast<size_t>(octave) << sub_bits_ |
                           (static_cast<size_t>(rtt_ns >> shift) & sub_mask_)];
  if (cell.next != 0) return index(rtt_ns);  // -1: two edges in the cell
  const int64_t first = (rtt_ns >> shift) << shift;
  const int64_t last = first + (int64_t{1} << shift) - 1;
  const int32_t low = index(first);
  const int32_t high = index(last);
  cell.index = low;
  if (high == low) {
    cell.next = std::numeric_limits<int64_t>::max();
  } else if (high == low + 1) {
    // The first count in bucket `high`: Index is monotonic.
    int64_t below = first;  // index(below) == low
    int64_t at = last;      // index(at) == high
    while (at - below > 1) {
      const int64_t mid = below + (at - below) / 2;
      (index(mid) == low ? below : at) = mid;
    }
    cell.next = at;
  } else {
    cell.next = -1;
    return index(rtt_ns);
  }
  return cell.index + (rtt_ns >= cell.next ? 1 : 0);
}

void ClientPrefixAggregator::Rehash(size_t table_size) {
  table_.assign(table_size, 0);
  table_bits_ = std::countr_zero(table_size);
  const size_t mask = table_size - 1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const uint64_t h = Hash(slots_[i].window_index, slots_[i].prefix);
    size_t t = h >> (64 - table_bits_);
    while (table_[t] != 0) t = (t + 1) & mask;
    table_[t] = (h >> 32) << 32 | (i + 1);
  }
}

ClientPrefixAggregator::Slot* ClientPrefixAggregator::Find(int64_t window_index,
                                                           const Prefix& prefix) {
  const uint64_t h = Hash(window_index, prefix);
  const uint64_t tag = (h >> 32) << 32;
  const size_t mask = table_.size() - 1;
  size_t t = h >> (64 - table_bits_);
  for (;; t = (t + 1) & mask) {
    const uint64_t e = table_[t];
    if (e == 0) break;
    if ((e & ~uint64_t{0xffffffff}) == tag) {
      Slot& slot = slots_[(e & 0xffffffff) - 1];
      if (slot.window_index == window_index && slot.prefix == prefix) return &slot;
    }
  }
  if (slots_.size() >= max_entries_) {
    ++dropped_entries_;
    return nullptr;
  }
  slots_.emplace_back();
  Slot& slot = slots_.back();
  slot.window_index = window_index;
  slot.prefix = prefix;
  if (2 * slots_.size() > table_.size()) {
    Rehash(2 * table_.size());
  } else {
    table_[t] = tag | slots_.size();
  }
  return &slot;
}

void ClientPrefixAggregator::RttCounts::AddOutside(int32_t index, uint32_t max_bins) {
  // As QuantileSketch's Store::Add: the top (highest index) fixes the floor
  // below which everything folds into the floor bucket.
  if (buckets.empty()) {
    offset = index;
    buckets.assign(1, 1);
    return;
  }
  const int64_t top = std::max<int64_t>(index, int64_t{offset} + std::ssize(buckets) - 1);
  const int64_t floor = top - max_bins + 1;
  if (offset < floor) {
    const auto drop = static_cast<size_t>(std::min<int64_t>(floor - offset, std::ssize(buckets)));
    uint64_t folded = 0;
    for (size_t i = 0; i < drop; ++i) folded += buckets[i];
    buckets.erase(buckets.begin(), buckets.begin() + static_cast<ptrdiff_t>(drop));
    offset = static_cast<int32_t>(floor);
    if (buckets.empty()) buckets.assign(1, 0);
    buckets[0] += folded;
  }
  const auto target = static_cast<int32_t>(std::max<int64_t>(index, floor));
  if (target < offset) {
    buckets.insert(buckets.begin(), static_cast<size_t>(offset - target), 0);
    offset = target;
  } else if (target >= offset + std::ssize(buckets)) {
    buckets.resize(static_cast<size_t>(target - offset) + 1, 0);
  }
  ++buckets[static_cast<size_t>(target - offset)];
}

void ClientPrefixAggregator::RttCounts::MoveTo(QuantileSketch* sketch) const {
  if (count == 0) return;
  const double min = static_cast<double>(min_ns) / 1000.0;
  const double max = static_cast<double>(max_ns) / 1000.0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    sketch->AddPositiveBucket(offset + static_cast<int32_t>(i), buckets[i], min, max);
  }
  if (zero > 0) sketch->Add(0.0, zero);
}

int64_t ClientPrefixAggregator::WindowIndex(absl::Time time) const {
  if (window_ns_ == 0) return 0;
  return WindowIndexNs(absl::ToUnixNanos(time));
}

int64_t ClientPrefixAggregator::WindowIndexNs(int64_t time_ns) const {
  if (window_ns_ == 0) return 0;
  return time_ns / window_ns_ - (time_ns < 0 ? 1 : 0);
}

absl::Time ClientPrefixAggregator::WindowStart(int64_t index) const {
  if (window_ == absl::InfiniteDuration()) return absl::InfinitePast();
  return absl::UnixEpoch() + window_ * index;
}

void ClientPrefixAggregator::OnSample(const RttSample& sample) {
  Drain();
  Slot* entry = Find(WindowIndex(sample.time), sample.client_prefix);
  if (entry == nullptr) return;
  const size_t which =
      static_cast<size_t>(sample.method) * kRttLegCount + static_cast<size_t>(sample.leg);
  const int64_t ns = absl::ToInt64Nanoseconds(sample.rtt);
  if (ns >= 0 && ns <= FlowRttSample::kMaxRttNs && absl::Nanoseconds(ns) == sample.rtt) {
    entry->rtt[which].Add(ns, prototype_);
    return;
  }
  if (!entry->other) {
    entry->other = std::make_unique<std::array<QuantileSketch, kRttSeries>>();
    for (QuantileSketch& sketch : *entry->other)
      sketch = QuantileSketch(prototype_.alpha(), prototype_.max_bins());
  }
  (*entry->other)[which].Add(absl::ToDoubleMicroseconds(sample.rtt));
}

ClientPrefixAggregator::Slot* ClientPrefixAggregator::LookUpEntry(const Prefix& prefix,
                                                                  int64_t time_ns,
                                                                  CachedEntry* cache) {
  const int64_t index = WindowIndexNs(time_ns);
  cache->entry = Find(index, prefix);
  cache->valid = true;
  if (window_ns_ == 0) {
    cache->start_ns = std::numeric_limits<int64_t>::min();
    cache->end_ns = std::numeric_limits<int64_t>::max();
  } else {
    // Only times whose WindowIndexNs is `index` fall in [start, end); an
    // overflow just leaves the range empty (every time is looked up).
    int64_t start;
    int64_t end;
    if (__builtin_mul_overflow(index, window_ns_, &start) ||
        __builtin_add_overflow(start, window_ns_, &end) || start < 0) {
      start = 0;
      end = 0;
    }
    cache->start_ns = start;
    cache->end_ns = end;
  }
  return cache->entry;
}

void ClientPrefixAggregator::AddSamples(const Prefix& prefix,
                                        absl::Span<const FlowRttSample> samples,
                                        absl::Span<const int32_t> indices, CachedEntry* cache) {
  for (size_t i = 0; i < samples.size(); ++i) {
    const FlowRttSample& s = samples[i];
    Slot* entry = EntryAt(prefix, s.time_ns(), cache);
    if (entry == nullptr) continue;
    RttCounts& counts =
        entry->rtt[static_cast<size_t>(s.method()) * kRttLegCount + static_cast<size_t>(s.leg())];
    if (indices.empty()) {
      counts.Add(s.rtt_ns(), prototype_);
    } else {
      counts.Add(s.rtt_ns(), indices[i], prototype_.max_bins());
    }
  }
}

void ClientPrefixAggregator::OnSampleBatch(const Prefix& client_prefix,
                                           absl::Span<const FlowRttSample> samples) {
  Enqueue(client_prefix, false, 0, samples, 0, 0, 0);
}

void ClientPrefixAggregator::OnFlowReport(const FlowReport& report) {
  Enqueue(*report.client_prefix, report.new_flow, report.first_seen_ns, report.samples,
          report.last_seen_ns, report.packets, report.ip_bytes);
}

void ClientPrefixAggregator::Enqueue(const Prefix& prefix, bool new_flow, int64_t first_seen_ns,
                                     absl::Span<const FlowRttSample> samples, int64_t last_seen_ns,
                                     uint64_t packets, uint64_t ip_bytes) {
  if (samples.size() > PassiveRtt::kSampleBatch) {
    // Bigger than a queue entry (not from PassiveRtt): at once, in order.
    Drain();
    CachedEntry cache;
    if (new_flow) {
      if (Slot* e = EntryAt(prefix, first_seen_ns, &cache)) ++e->flows;
    }
    AddSamples(prefix, samples, {}, &cache);
    if (packets > 0) {
      if (Slot* e = EntryAt(prefix, last_seen_ns, &cache)) {
        e->packets += packets;
        e->bytes += ip_bytes;
      }
    }
    return;
  }
  if (queue_size_ == kQueueDepth) ProcessOldest();
  QueuedReport& q = queue_[(queue_head_ + queue_size_) % kQueueDepth];
  q.prefix = prefix;
  q.new_flow = new_flow;
  q.first_seen_ns = first_seen_ns;
  q.last_seen_ns = last_seen_ns;
  q.packets = packets;
  q.ip_bytes = ip_bytes;
  q.sample_count = static_cast<uint32_t>(samples.size());
  q.indexed = false;
  q.slot_hint = 0;
  q.rtt_mask = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    q.samples[i] = samples[i];
    q.rtt_mask |= 1u << (static_cast<uint32_t>(samples[i].method()) * kRttLegCount +
                         static_cast<uint32_t>(samples[i].leg()));
  }
  // The window most of it goes to: the traffic's, else the first sample's.
  const int64_t time_ns =
      packets > 0 ? last_seen_ns : (samples.empty() ? first_seen_ns : samples[0].time_ns());
  q.window_index = WindowIndexNs(time_ns);
  q.hash = Hash(q.window_index, prefix);
  ++queue_size_;
  Prefetch();
}

const ClientPrefixAggregator::Slot* ClientPrefixAggregator::Peek(uint64_t hash,
                                                                 int64_t window_index,
                                                                 const Prefix& prefix) const {
  const uint64_t tag = (hash >> 32) << 32;
  const size_t mask = table_.size() - 1;
  for (size_t t = hash >> (64 - table_bits_);; t = (t + 1) & mask) {
    const uint64_t e = table_[t];
    if (e == 0) return nullptr;
    if ((e & ~uint64_t{0xffffffff}) == tag) {
      const Slot& slot = slots_[(e & 0xffffffff) - 1];
      if (slot.window_index == window_index && slot.prefix == prefix) return &slot;
    }
  }
}

void ClientPrefixAggregator::Prefetch() {
  // By age: new, its table slot; two, its Slot's key line and the lines of
  // the RTT counts it adds to; four, its samples' bucket indices and the
  // counters they increment. Hints only: slots move when added or taken.
  const size_t newest = (queue_head_ + queue_size_ - 1) % kQueueDepth;
  __builtin_prefetch(&table_[queue_[newest].hash >> (64 - table_bits_)]);
  if (queue_size_ > 2) {
    QueuedReport& q = queue_[(newest + kQueueDepth - 2) % kQueueDepth];
    const Slot* slot = Peek(q.hash, q.window_index, q.prefix);
    q.slot_hint = slot == nullptr ? 0 : static_cast<uint32_t>(slot - slots_.data()) + 1;
    if (slot != nullptr) {
      __builtin_prefetch(slot);
      for (uint32_t mask = q.rtt_mask; mask != 0; mask &= mask - 1) {
        __builtin_prefetch(&slot->rtt[static_cast<size_t>(std::countr_zero(mask))]);
      }
    }
  }
  if (queue_size_ > 4) {
    QueuedReport& q = queue_[(newest + kQueueDepth - 4) % kQueueDepth];
    // The slot found two reports ago, if it still exists (Take may have
    // removed slots since: then no prefetch).
    const Slot* slot =
        q.slot_hint != 0 && q.slot_hint <= slots_.size() ? &slots_[q.slot_hint - 1] : nullptr;
    for (uint32_t i = 0; i < q.sample_count; ++i) {
      const FlowRttSample& s = q.samples[i];
      const int64_t ns = s.rtt_ns();
      // ns / 1000.0 is what ToDoubleMicroseconds gives for whole nanoseconds.
      q.index[i] = ns == 0 ? 0 : IndexOf(ns);
      if (slot != nullptr && ns != 0) {
        const RttCounts& counts = slot->rtt[static_cast<size_t>(s.method()) * kRttLegCount +
                                            static_cast<size_t>(s.leg())];
        const auto at = static_cast<uint64_t>(int64_t{q.index[i]} - counts.offset);
        if (at < counts.buckets.size()) __builtin_prefetch(&counts.buckets[at]);
      }
    }
    q.indexed = true;
  }
}

void ClientPrefixAggregator::ProcessOldest() {
  const QueuedReport& q = queue_[queue_head_];
  CachedEntry cache;
  if (q.new_flow) {
    if (Slot* e = EntryAt(q.prefix, q.first_seen_ns, &cache)) ++e->flows;
  }
  AddSamples(
      q.prefix, absl::MakeConstSpan(q.samples.data(), q.sample_count),
      q.indexed ? absl::MakeConstSpan(q.index.data(), q.sample_count) : absl::Span<const int32_t>(),
      &cache);
  if (q.packets > 0) {
    if (Slot* e = EntryAt(q.prefix, q.last_seen_ns, &cache)) {
      e->packets += q.packets;
      e->bytes += q.ip_bytes;
    }
  }
  queue_head_ = (queue_head_ + 1) % kQueueDepth;
  --queue_size_;
}

void ClientPrefixAggregator::OnFlow(absl::Time time, const Prefix& client_prefix) {
  Drain();
  Slot* entry = Find(WindowIndex(time), client_prefix);
  if (entry != nullptr) ++entry->flows;
}

void ClientPrefixAggregator::OnTraffic(absl::Time time, const Prefix& client_prefix,
                                       uint64_t packets, uint64_t ip_bytes) {
  Drain();
  Slot* entry = Find(WindowIndex(time), client_prefix);
  if (entry == nullptr) return;
  entry->packets += packets;
  entry->bytes += ip_bytes;
}

std::vector<ClientPrefixWindow> ClientPrefixAggregator::Take(int64_t below_index) {
  Drain();
  // Sorted by (window, prefix) as Prefix orders: family, address bytes,
  // length — compared as words.
  struct SortKey {
    int64_t window_index;
    uint64_t family_and_length;
    uint64_t high;  // address bytes 0-7, big-endian
    uint64_t low;   // bytes 8-15
    uint32_t slot;
  };
  std::vector<SortKey> keys;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& slot = slots_[i];
    if (slot.window_index >= below_index) continue;
    uint64_t high;
    uint64_t low;
    std::memcpy(&high, slot.prefix.address().bytes(), 8);
    std::memcpy(&low, slot.prefix.address().bytes() + 8, 8);
    keys.push_back({slot.window_index,
                    static_cast<uint64_t>(slot.prefix.family()) << 32 |
                        static_cast<uint32_t>(slot.prefix.length()),
                    __builtin_bswap64(high), __builtin_bswap64(low), static_cast<uint32_t>(i)});
  }
  if (keys.empty()) return {};
  std::sort(keys.begin(), keys.end(), [](const SortKey& a, const SortKey& b) {
    if (a.window_index != b.window_index) return a.window_index < b.window_index;
    if ((a.family_and_length >> 32) != (b.family_and_length >> 32)) {
      return a.family_and_length < b.family_and_length;
    }
    if (a.high != b.high) return a.high < b.high;
    if (a.low != b.low) return a.low < b.low;
    return a.family_and_length < b.family_and_length;
  });
  std::vector<uint32_t> taken(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) taken[k] = keys[k].slot;
  std::vector<ClientPrefixWindow> out(taken.size());
  for (size_t k = 0; k < taken.size(); ++k) {
    const Slot& slot = slots_[taken[k]];
    ClientPrefixWindow& window = out[k];
    window.window_start = WindowStart(slot.window_index);
    window.window = window_;
    window.client_prefix = slot.prefix;
    window.flows = slot.flows;
    window.packets = slot.packets;
    window.bytes = slot.bytes;
    for (size_t m = 0; m < kRttMethodCount; ++m) {
      for (size_t l = 0; l < kRttLegCount; ++l) {
        QuantileSketch& sketch = window.rtt_us[m][l];
        if (prototype_.alpha() != QuantileSketch::kDefaultAlpha) {
          sketch = QuantileSketch(prototype_.alpha(), prototype_.max_bins());
        }
        const size_t which = m * kRttLegCount + l;
        slot.rtt[which].MoveTo(&sketch);
        if (slot.other) (void)sketch.Merge((*slot.other)[which]);
      }
    }
  }
  // Keep the rest, in order, and index them again.
  std::vector<Slot> kept;
  kept.reserve(slots_.size() - taken.size());
  for (Slot& slot : slots_) {
    if (slot.window_index >= below_index) kept.push_back(std::move(slot));
  }
  slots_ = std::move(kept);
  size_t table_size = size_t{1} << kInitialTableBits;
  while (2 * slots_.size() > table_size) table_size *= 2;
  Rehash(table_size);
  return out;
}

std::vector<ClientPrefixWindow> ClientPrefixAggregator::TakeCompleted(absl::Time now) {
  if (window_ == absl::InfiniteDuration()) return {};
  // Window i ends at start(i + 1); it is complete when that is <= now.
  return Take(WindowIndex(now));
}

std::vector<ClientPrefixWindow> ClientPrefixAggregator::TakeAll() {
  return Take(std::numeric_limits<int64_t>::max());
}

}  // namespace vantage::probe
