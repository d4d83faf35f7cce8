#include "probe/client_prefix_aggregator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

#include "absl/base/attributes.h"

namespace vantage::probe {

namespace {

constexpr int kInitialTableBits = 6;

// Prefix's operator== without a memcmp call: the address as two words.
bool SamePrefix(const Prefix& a, const Prefix& b) {
  uint64_t x[2];
  uint64_t y[2];
  std::memcpy(x, a.address().bytes(), 16);
  std::memcpy(y, b.address().bytes(), 16);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0 && a.length() == b.length() &&
         a.family() == b.family();
}

// Prefetches the cache lines of [p, p + bytes) (for writing: kWrite 1).
template <int kWrite>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PrefetchLines(const void* p, size_t bytes) {
  const char* const bytes_at = static_cast<const char*>(p);
  for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(bytes_at + line, kWrite);
}

}  // namespace

ClientPrefixAggregator::ClientPrefixAggregator(absl::Duration window, size_t max_entries,
                                               double sketch_alpha)
    : window_(window > absl::ZeroDuration() ? window : absl::Minutes(1)),
      window_ns_(window_ == absl::InfiniteDuration() ? 0 : absl::ToInt64Nanoseconds(window_)),
      window_span_(window_ns_ == 0 ? ~uint64_t{0} : static_cast<uint64_t>(window_ns_) - 1),
      max_entries_(max_entries),
      prototype_(sketch_alpha) {
  // The header's memory figure: a cache line of key and counters, one per
  // method and leg.
  static_assert(sizeof(Slot) == 64 + 32 * kRttSeries);
  Rehash(size_t{1} << kInitialTableBits);
  uint64_t span;
  WindowRange(0, &last_window_start_ns_, &span);
  // Cells of 1/2^kSubBits octave, when narrower than a bucket (ratio gamma
  // = (1 + alpha) / (1 - alpha)) by half; else none is ever filled.
  const double alpha = prototype_.alpha();
  const double bucket = (1 + alpha) / (1 - alpha) - 1;
  if (std::ldexp(1.0, -kSubBits) < bucket / 2) min_cached_ns_ = int64_t{1} << kSubBits;
  cells_.resize(size_t{64} << kSubBits);
  cell_base_ = reinterpret_cast<uintptr_t>(cells_.data()) - kCellBias * sizeof(IndexCell);
}

int32_t ClientPrefixAggregator::IndexSlow(int64_t rtt_ns) {
  // ns / 1000.0 is what ToDoubleMicroseconds gives for whole nanoseconds.
  auto index = [this](int64_t ns) { return prototype_.Index(static_cast<double>(ns) / 1000.0); };
  // From 2^52 on the double of 2 * rtt_ns + 1 may round into the next
  // cell: those stay empty.
  if (rtt_ns < min_cached_ns_ || rtt_ns >= (int64_t{1} << 52)) return index(rtt_ns);
  const int octave = 63 - std::countl_zero(static_cast<uint64_t>(rtt_ns));
  const int shift = octave - kSubBits;
  // Stored one octave up: CellIndex looks up 2 * rtt_ns + 1.
  const size_t cell = static_cast<size_t>(octave + 1) << kSubBits |
                      (static_cast<size_t>(rtt_ns >> shift) & ((size_t{1} << kSubBits) - 1));
  int64_t& cell_last = cells_[cell].last;
  int32_t& cell_index = cells_[cell].index;
  if (cell_last == kTwoEdges) return index(rtt_ns);
  const int64_t first = (rtt_ns >> shift) << shift;
  const int64_t last = first + (int64_t{1} << shift) - 1;
  const int32_t low = index(first);
  const int32_t high = index(last);
  cell_index = low;
  if (high == low) {
    cell_last = std::numeric_limits<int64_t>::max();
  } else if (high == low + 1) {
    // The first count in bucket `high`: Index is monotonic.
    int64_t below = first;  // index(below) == low
    int64_t at = last;      // index(at) == high
    while (at - below > 1) {
      const int64_t mid = below + (at - below) / 2;
      (index(mid) == low ? below : at) = mid;
    }
    cell_last = at - 1;
  } else {
    cell_index = kNoIndex;
    cell_last = kTwoEdges;
    return index(rtt_ns);
  }
  return low + (rtt_ns > cell_last ? 1 : 0);
}

void ClientPrefixAggregator::Rehash(size_t table_size) {
  table_.assign(table_size, 0);
  table_shift_ = 64 - std::countr_zero(table_size);
  const size_t mask = table_size - 1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const uint64_t h = Hash(slots_[i].window_index, slots_[i].prefix);
    size_t t = h >> table_shift_;
    while (table_[t] != 0) t = (t + 1) & mask;
    table_[t] = TableEntry(h, &slots_[i]);
  }
}

ClientPrefixAggregator::Slot* ClientPrefixAggregator::Find(int64_t window_index,
                                                           const Prefix& prefix) {
  const uint64_t h = Hash(window_index, prefix);
  const size_t mask = table_.size() - 1;
  size_t t = h >> table_shift_;
  for (;; t = (t + 1) & mask) {
    const uint64_t e = table_[t];
    if (e == 0) break;
    if (SameTag(e, h)) {
      Slot* const slot = SlotOf(e);
      if (slot->window_index == window_index && SamePrefix(slot->prefix, prefix)) return slot;
    }
  }
  if (slots_.size() >= max_entries_) {
    ++dropped_entries_;
    return nullptr;
  }
  Slot& slot = slots_.Append();
  slot.window_index = window_index;
  slot.prefix = prefix;
  if (2 * slots_.size() > table_.size()) {
    Rehash(2 * table_.size());
  } else {
    table_[t] = TableEntry(h, &slot);
  }
  return &slot;
}

std::array<QuantileSketch, ClientPrefixAggregator::kRttSeries>& ClientPrefixAggregator::Other(
    Slot* slot) {
  if (!slot->other) {
    slot->other = std::make_unique<std::array<QuantileSketch, kRttSeries>>();
    for (QuantileSketch& sketch : *slot->other)
      sketch = QuantileSketch(prototype_.alpha(), prototype_.max_bins());
  }
  return *slot->other;
}

void ClientPrefixAggregator::Spill(Slot* slot, size_t series, int32_t index, uint64_t count) {
  const RttCounts& counts = slot->rtt[series];
  QuantileSketch& sketch = Other(slot)[series];
  if (index == kZeroBucket) {
    sketch.Add(0.0, count);
    return;
  }
  // The series' min and max so far bound this bucket's samples; the final
  // ones come with the counts left (or are these, when none are).
  sketch.AddPositiveBucket(index, count, static_cast<double>(counts.min_ns) / 1000.0,
                           static_cast<double>(counts.max_ns) / 1000.0);
}

namespace {

// [*first, *last]: the non-zero counts' positions; false when none.
bool UsedRange(const uint32_t* counts, uint32_t size, uint32_t* first, uint32_t* last) {
  uint32_t i = 0;
  while (i < size && counts[i] == 0) ++i;
  if (i == size) return false;
  uint32_t j = size - 1;
  while (counts[j] == 0) --j;
  *first = i;
  *last = j;
  return true;
}

}  // namespace

void ClientPrefixAggregator::Grow(Slot* slot, size_t series, int32_t index) {
  RttCounts& counts = slot->rtt[series];
  const uint32_t max_bins = prototype_.max_bins();
  // Room for any array (before the old counts are located: compacting
  // moves them).
  if (arena_.size() + ArrayWords(max_bins) > arena_limit_ &&
      arena_.size() - arena_live_ >= ArrayWords(max_bins)) {
    CompactArena();
  }
  // The counts held so far: the pairs, or the dense array's used range
  // (as positions in the arena: it may move) and zero counter.
  const RttCounts old = counts;
  uint32_t first = 0;
  uint32_t last = 0;
  bool used = false;
  // As QuantileSketch's Store::Add: the top (highest index) fixes the floor
  // below which everything folds into the floor bucket; the used range
  // becomes [max(min(index, lowest), floor), top]. A zero RTT (a third
  // distinct bucket of pairs) adds no index: pairs hold at least one.
  int64_t lowest = std::numeric_limits<int64_t>::max();
  int64_t top = std::numeric_limits<int64_t>::min();
  auto span_index = [&](int64_t i) {
    lowest = std::min(lowest, i);
    top = std::max(top, i);
  };
  if (index != kZeroBucket) span_index(index);
  if (old.dense()) {
    used = UsedRange(arena_.data() + old.at(), old.size(), &first, &last);
    if (used) {
      span_index(int64_t{old.offset()} + first);
      span_index(int64_t{old.offset()} + last);
    }
  } else {
    for (size_t k = 0; k < kPairs; ++k) {
      const auto i = static_cast<int32_t>(old.words[2 * k]);
      if (i != kNoBucket && i != kZeroBucket) span_index(i);
    }
  }
  const int64_t floor = top - max_bins + 1;
  const int64_t low = std::max(lowest, floor);
  // Room for twice the used range, centred on it, in whole cache lines
  // (with the zero counter): a first array is one line, 15 buckets, what
  // the RTTs of a prefix within +-15% need; within max_bins in all (so
  // that nothing inside ever folds; see above).
  const int64_t span = top - low + 1;
  const auto wanted = static_cast<uint32_t>(std::min<int64_t>(span + 2 * (span / 2), max_bins));
  const int64_t room = std::min<int64_t>(static_cast<int64_t>(ArrayWords(wanted)) - 1, max_bins);
  const int64_t high_end = top + (room - span + 1) / 2;
  const int64_t low_end = high_end - room + 1;
  const size_t words = ArrayWords(static_cast<uint32_t>(room));
  if (arena_.size() + words > arena_limit_) {
    // The arena is full of live counts: this sample, exactly, in the side
    // sketch (and so will the series' next ones outside its counts).
    Spill(slot, series, index, 1);
    return;
  }
  // The counters, then the zero counter.
  const size_t at = arena_.size();
  arena_.resize(at + words);  // zeros
  uint32_t* const dense = arena_.data() + at;
  // Folded counts add up: a sum that wraps carries 2^32 (at the bucket it
  // lands in, where the sketch would fold it too).
  auto add = [&](int64_t at_index, uint32_t count) {
    uint32_t* counter;
    int64_t kept = kZeroBucket;
    if (at_index == kZeroBucket) {
      counter = &dense[room];
    } else {
      kept = std::max(at_index, low);
      counter = &dense[kept - low_end];
    }
    const uint32_t before = *counter;
    *counter += count;
    if (*counter < before) Carry(slot, series, static_cast<int32_t>(kept));
  };
  if (old.dense()) {
    const uint32_t* const counters = arena_.data() + old.at();
    if (used) {
      for (uint32_t i = first; i <= last; ++i) add(int64_t{old.offset()} + i, counters[i]);
    }
    add(kZeroBucket, counters[old.size()]);
    arena_live_ -= ArrayWords(old.size());
  } else {
    for (size_t k = 0; k < kPairs; ++k) {
      const auto i = static_cast<int32_t>(old.words[2 * k]);
      if (i != kNoBucket) add(i, old.words[2 * k + 1]);
    }
  }
  add(index, 1);
  arena_live_ += words;
  counts.words = {static_cast<uint32_t>(kDense), static_cast<uint32_t>(low_end),
                  static_cast<uint32_t>(room), static_cast<uint32_t>(at)};
  // The arena left behind by arrays that grew, once it outgrows the live
  // counts (amortised: the live ones doubled since the last copy).
  if (arena_.size() - arena_live_ > std::max<size_t>(arena_live_, 4096)) CompactArena();
}

void ClientPrefixAggregator::CompactArena() {
  Arena compact;
  compact.reserve(arena_live_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    for (RttCounts& counts : slots_[i].rtt) {
      if (!counts.dense()) continue;
      const size_t at = compact.size();
      const uint32_t* const from = arena_.data() + counts.at();
      compact.insert(compact.end(), from, from + ArrayWords(counts.size()));
      counts.words[3] = static_cast<uint32_t>(at);
    }
  }
  arena_live_ = compact.size();
  arena_ = std::move(compact);
}

void ClientPrefixAggregator::RttCounts::MoveTo(QuantileSketch* sketch,
                                               const uint32_t* arena) const {
  if (max_ns < 0) return;  // no sample
  const double min = static_cast<double>(min_ns) / 1000.0;
  const double max = static_cast<double>(max_ns) / 1000.0;
  uint64_t zero = 0;
  if (dense()) {
    // The used range. Nothing folds (the range is at most max_bins): one
    // copy into the empty sketch.
    const uint32_t* const counts = arena + at();
    uint32_t first = 0;
    uint32_t last = 0;
    if (UsedRange(counts, size(), &first, &last)) {
      sketch->AddPositiveBuckets(offset() + static_cast<int32_t>(first),
                                 absl::MakeConstSpan(counts + first, last - first + 1), min, max);
    }
    zero = counts[size()];
  } else {
    // In any order: the sketch folds them as it would the samples.
    for (size_t k = 0; k < kPairs; ++k) {
      const auto index = static_cast<int32_t>(words[2 * k]);
      if (index == kZeroBucket) {
        zero = words[2 * k + 1];
      } else if (index != kNoBucket) {
        sketch->AddPositiveBucket(index, words[2 * k + 1], min, max);
      }
    }
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
    entry->rtt[which].AddMinMax(ns);
    AddCount(entry, which, ns,
             ns == 0 ? kZeroBucket : prototype_.Index(static_cast<double>(ns) / 1000.0));
    return;
  }
  Other(entry)[which].Add(absl::ToDoubleMicroseconds(sample.rtt));
}

ClientPrefixAggregator::Slot* ClientPrefixAggregator::LookUpEntry(const Prefix& prefix,
                                                                  int64_t time_ns,
                                                                  CachedEntry* cache) {
  const int64_t index = WindowIndexNs(time_ns);
  cache->entry = Find(index, prefix);
  // An invalid range just has every time looked up.
  cache->valid = WindowRange(index, &cache->start_ns, &cache->span_ns);
  return cache->entry;
}

void ClientPrefixAggregator::AddSamples(const Prefix& prefix,
                                        absl::Span<const FlowRttSample> samples,
                                        CachedEntry* cache) {
  for (const FlowRttSample& s : samples) {
    Slot* entry = EntryAt(prefix, s.time_ns(), cache);
    if (entry == nullptr) continue;
    const int64_t ns = s.rtt_ns();
    const size_t series = s.series();
    entry->rtt[series].AddMinMax(ns);
    AddCount(entry, series, ns, kNoIndex);
  }
}

void ClientPrefixAggregator::OnSampleBatch(const Prefix& client_prefix,
                                           absl::Span<const FlowRttSample> samples) {
  FlowReport report;
  report.client_prefix = &client_prefix;
  report.samples = samples;
  Enqueue</*kInOrder=*/false>(report);
}

void ClientPrefixAggregator::ProcessAtOnce(const FlowReport& report) {
  const Prefix& prefix = *report.client_prefix;
  Drain();
  CachedEntry cache;
  if (report.new_flow) {
    if (Slot* e = EntryAt(prefix, report.first_seen_ns, &cache)) ++e->flows;
  }
  AddSamples(prefix, report.samples, &cache);
  if (report.packets > 0) {
    if (Slot* e = EntryAt(prefix, report.last_seen_ns, &cache)) {
      e->packets += report.packets;
      e->bytes += report.ip_bytes;
    }
  }
}

void ClientPrefixAggregator::OnFlowReport(const FlowReport& report) {
  Enqueue</*kInOrder=*/true>(report);
}

template <bool kInOrder>
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void ClientPrefixAggregator::Enqueue(const FlowReport& report) {
  const size_t n = report.samples.size();
  // Bigger than a queue entry (not from PassiveRtt): at once, in order.
  if (n > PassiveRtt::kSampleBatch) [[unlikely]]
    return ProcessAtOnce(report);
  const size_t newest = (queue_head_ + queue_size_) % kQueueDepth;
  QueuedReport& q = queue_[newest];
  const Prefix& prefix = *report.client_prefix;
  q.prefix = prefix;
  q.new_flow = report.new_flow;
  q.in_order = kInOrder;
  q.slot = nullptr;
  q.first_seen_ns = report.first_seen_ns;
  q.last_seen_ns = report.last_seen_ns;
  q.packets = report.packets;
  q.ip_bytes = report.ip_bytes;
  q.sample_count = static_cast<uint32_t>(n);
  const FlowRttSample* const samples = report.samples.data();
  const int64_t time_ns =
      q.packets > 0 ? q.last_seen_ns : (n == 0 ? q.first_seen_ns : samples[0].time_ns());
  // Mostly the window of the report before: no division.
  int64_t window_index;
  uint64_t window_mix;
  if (!InRange(time_ns, last_window_start_ns_, window_span_)) {
    const int64_t index = WindowIndexNs(time_ns);
    int64_t start;
    uint64_t span;
    window_mix = WindowMix(index);
    q.window_known = WindowRange(index, &start, &span);
    if (q.window_known) {
      last_window_index_ = index;
      last_window_mix_ = window_mix;
      last_window_start_ns_ = start;
    }
    window_index = index;
    q.window_start_ns = start;
  } else {
    window_index = last_window_index_;
    window_mix = last_window_mix_;
    q.window_start_ns = last_window_start_ns_;
    q.window_known = true;
  }
  q.window_index = window_index;
  // From the report's prefix, not the copy just stored (reading it back
  // across its stores would stall their forwarding).
  q.hash = HashMixed(window_mix, prefix);
  __builtin_prefetch(&table_[q.hash >> table_shift_]);
  // After the rest: nothing read above is read again after it.
  std::copy_n(samples, n, q.samples.data());
  const size_t size = ++queue_size_;
  if (size > kSlotAge) [[likely]] {
    LocateSlot(&queue_[(newest + kQueueDepth - kSlotAge) % kQueueDepth]);
    if (size > kCounterAge) [[likely]] {
      PrefetchCounters(queue_[(newest + kQueueDepth - kCounterAge) % kQueueDepth]);
    }
    if (size > kProcessAge) [[likely]] {
      // The oldest, newest - kProcessAge.
      queue_head_ = (newest + kQueueDepth - kProcessAge + 1) % kQueueDepth;
      queue_size_ = kProcessAge;
      Process(queue_[(newest + kQueueDepth - kProcessAge) % kQueueDepth]);
    }
  }
}

ClientPrefixAggregator::Slot* ClientPrefixAggregator::Peek(uint64_t hash, int64_t window_index,
                                                           const Prefix& prefix) const {
  const size_t mask = table_.size() - 1;
  for (size_t t = hash >> table_shift_;; t = (t + 1) & mask) {
    const uint64_t e = table_[t];
    if (e == 0) return nullptr;
    if (SameTag(e, hash)) {
      Slot* const slot = SlotOf(e);
      if (slot->window_index == window_index && SamePrefix(slot->prefix, prefix)) return slot;
    }
  }
}

void ClientPrefixAggregator::LocateSlot(QueuedReport* q) {
  // A hint only: the slot a tag points to is confirmed when processed.
  const size_t mask = table_.size() - 1;
  for (size_t t = q->hash >> table_shift_;; t = (t + 1) & mask) {
    const uint64_t e = table_[t];
    if (e == 0) return;
    if (SameTag(e, q->hash)) {
      Slot* const slot = SlotOf(e);
      q->slot = slot;
      // The whole slot, its key line and one line per method (a line
      // holds both legs of a method): fewer instructions than finding the
      // lines of the report's samples' methods.
      static_assert(sizeof(Slot) == size_t{4} * 64);
      PrefetchLines<0>(slot, sizeof(Slot));
      return;
    }
  }
}

void ClientPrefixAggregator::PrefetchCounters(const QueuedReport& q) {
  const Slot* const slot = q.slot;
  if (slot == nullptr || q.sample_count == 0) return;
  // The dense arrays of the slot's series: whole when of up to
  // kWholeLines lines (most: the RTTs of a prefix within +-15% fit one,
  // within a factor of 3.5 four), without reading the samples; larger ones
  // at each sample's counter.
  const uint32_t* const arena = arena_.data();
  uint32_t large = 0;  // series with larger arrays
  for (size_t series = 0; series < kRttSeries; ++series) {
    const RttCounts& counts = slot->rtt[series];
    if (!counts.dense()) continue;
    const size_t words = ArrayWords(counts.size());
    if (words > kWholeLines * kLineWords) {
      large |= uint32_t{1} << series;
      continue;
    }
    const uint32_t* const array = arena + counts.at();
    for (size_t w = 0; w < words; w += kLineWords) __builtin_prefetch(array + w, 1);
  }
  if (large == 0) return;
  const uintptr_t cell_base = cell_base_;
  for (uint32_t k = 0; k < q.sample_count; ++k) {
    const FlowRttSample& sample = q.samples[k];
    if ((large >> sample.series() & 1) == 0) continue;
    if (const uint32_t* counter =
            slot->rtt[sample.series()].DenseCounter(CellIndex(cell_base, sample.rtt_ns()), arena)) {
      __builtin_prefetch(counter, 1);
    }
  }
}

void ClientPrefixAggregator::Process(const QueuedReport& q) {
  if (!q.window_known) return ProcessOneByOne(q);
  const int64_t start = q.window_start_ns;
  const uint64_t span = window_span_;
  const uint32_t n = q.sample_count;
  const FlowRttSample* s = q.samples.data();
  const FlowRttSample* const end = s + n;
  // A flow report's samples are in time order (PassiveRttSink's contract;
  // PassiveRtt's are, its packet times being non-decreasing): when the
  // first and the last are in the window, so are all, and none is checked
  // on its own. Else (a report across a window's edge) one by one. Sample
  // batches (OnSampleBatch) are checked one by one. The traffic's time is
  // in the window (it chose the window: Enqueue).
  if (n > 0 && !(InRange(s->time_ns(), start, span) && InRange(end[-1].time_ns(), start, span)))
      [[unlikely]] {
    return ProcessOneByOne(q);
  }
  if (!q.in_order) [[unlikely]] {
    for (const FlowRttSample* t = s; t != end; ++t) {
      if (!InRange(t->time_ns(), start, span)) return ProcessOneByOne(q);
    }
  }
  // The slot of the report's window: the hinted one, else looked up.
  Slot* slot_ptr = q.slot;
  if (slot_ptr != nullptr && slot_ptr->window_index == q.window_index &&
      SamePrefix(slot_ptr->prefix, q.prefix)) {
    // the table and slots_ agree
  } else if (Slot* const found = Peek(q.hash, q.window_index, q.prefix)) {
    slot_ptr = found;
  } else {
    // Created here only when, one by one, it would be the first slot
    // this report looks up (slots are created in the same order, which
    // matters once max_entries is reached): the flow's, else the first
    // sample's, else the traffic's.
    if (n == 0 && q.packets == 0 && !q.new_flow) return;  // nothing to count
    if (q.new_flow && !InRange(q.first_seen_ns, start, span)) return ProcessOneByOne(q);
    slot_ptr = Find(q.window_index, q.prefix);
    if (slot_ptr == nullptr) return;  // full: so is every other window's
  }
  Slot& slot = *slot_ptr;
  if (q.new_flow) {
    if (InRange(q.first_seen_ns, start, span)) {
      ++slot.flows;
    } else if (Slot* e = Find(WindowIndexNs(q.first_seen_ns), q.prefix)) {
      ++e->flows;
    }
  }
  if (q.packets > 0) {
    slot.packets += q.packets;
    slot.bytes += q.ip_bytes;
  }
  // In locals: the counters (uint64, int64) could alias the members.
  const uintptr_t cell_base = cell_base_;
  // The arena moves when an array grows (AddCount): read again after it.
  uint32_t* arena = arena_.data();
  RttCounts* const rtt = slot.rtt.data();
  for (; s != end; ++s) {
    // The series' index only on the slow paths (from the pointer): fewer
    // registers in the loop.
    RttCounts& counts = rtt[s->series()];
    auto series = [&] { return static_cast<size_t>(&counts - rtt); };
    const int64_t ns = s->rtt_ns();
    counts.AddMinMax(ns);
    // A cell that cannot tell gives kNoIndex, which no counter has (zero
    // RTTs always: AddCount counts them).
    const int32_t index = CellIndex(cell_base, ns);
    uint32_t* counter;
    if (!counts.dense()) {
      // The pairs' counters written out: no pointer to make.
      if (static_cast<int32_t>(counts.words[0]) == index) {
        if (++counts.words[1] == 0) [[unlikely]] {
          Carry(&slot, series(), index);
        }
        continue;
      }
      if (static_cast<int32_t>(counts.words[2]) == index) {
        if (++counts.words[3] == 0) [[unlikely]] {
          Carry(&slot, series(), index);
        }
        continue;
      }
      // A new bucket with a pair free (as AddCount would add it; zero RTTs
      // and cells that cannot tell go there).
      if (counts.words[2] == static_cast<uint32_t>(kNoBucket) && index != kNoIndex) {
        const size_t k = counts.words[0] == static_cast<uint32_t>(kNoBucket) ? 0 : 2;
        counts.words[k] = static_cast<uint32_t>(index);
        counts.words[k + 1] = 1;
        continue;
      }
    } else if ((counter = counts.Counter(index, arena)) != nullptr) [[likely]] {
      Increment(&slot, series(), index, counter);
      continue;
    }
    AddCount(&slot, series(), ns, index);
    arena = arena_.data();
  }
}

void ClientPrefixAggregator::AddCount(Slot* slot, size_t series, int64_t rtt_ns, int32_t index) {
  if (rtt_ns == 0) {
    index = kZeroBucket;
  } else if (index == kNoIndex) {
    index = IndexOf(rtt_ns);
  }
  RttCounts& counts = slot->rtt[series];
  uint32_t* counter = index == kZeroBucket ? counts.ZeroCounter(arena_.data())
                                           : counts.Counter(index, arena_.data());
  if (counter != nullptr) {
    Increment(slot, series, index, counter);
    return;
  }
  if (!counts.dense()) {
    for (size_t k = 0; k < kPairs; ++k) {
      if (counts.words[2 * k] == static_cast<uint32_t>(kNoBucket)) {
        counts.words[2 * k] = static_cast<uint32_t>(index);
        counts.words[2 * k + 1] = 1;
        return;
      }
    }
  }
  Grow(slot, series, index);
}

uint32_t* ClientPrefixAggregator::CounterForTesting(const Prefix& prefix, absl::Time time,
                                                    RttMethod method, RttLeg leg, int64_t rtt_ns) {
  Drain();
  const int64_t window_index = WindowIndex(time);
  Slot* const found = Peek(Hash(window_index, prefix), window_index, prefix);
  if (found == nullptr) return nullptr;
  RttCounts& counts =
      found->rtt[static_cast<size_t>(method) * kRttLegCount + static_cast<size_t>(leg)];
  if (rtt_ns == 0) return counts.ZeroCounter(arena_.data());
  return counts.Counter(prototype_.Index(static_cast<double>(rtt_ns) / 1000.0), arena_.data());
}

void ClientPrefixAggregator::ProcessOneByOne(const QueuedReport& q) {
  CachedEntry cache;
  if (q.new_flow) {
    if (Slot* e = EntryAt(q.prefix, q.first_seen_ns, &cache)) ++e->flows;
  }
  AddSamples(q.prefix, absl::MakeConstSpan(q.samples.data(), q.sample_count), &cache);
  if (q.packets > 0) {
    if (Slot* e = EntryAt(q.prefix, q.last_seen_ns, &cache)) {
      e->packets += q.packets;
      e->bytes += q.ip_bytes;
    }
  }
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
  // Windows copied from an empty one (no sketch parameters computed per
  // window), one start per run of equal window indices.
  ClientPrefixWindow empty;
  empty.window = window_;
  if (prototype_.alpha() != QuantileSketch::kDefaultAlpha) {
    for (auto& legs : empty.rtt_us) {
      for (QuantileSketch& sketch : legs) sketch = prototype_;
    }
  }
  std::vector<ClientPrefixWindow> out;
  out.reserve(keys.size());
  // The slots a few windows ahead, then the dense counts of nearer ones
  // (whose slots have arrived), so that their misses overlap.
  constexpr size_t kSlotAhead = 8;
  constexpr size_t kCountsAhead = 4;
  const uint32_t* const arena = arena_.data();
  for (size_t k = 0; k < keys.size(); ++k) {
    if (k + kSlotAhead < keys.size()) {
      PrefetchLines<0>(&slots_[keys[k + kSlotAhead].slot], sizeof(Slot));
    }
    if (k + kCountsAhead < keys.size()) {
      for (const RttCounts& counts : slots_[keys[k + kCountsAhead].slot].rtt) {
        if (counts.dense()) {
          PrefetchLines<0>(arena + counts.at(), ArrayWords(counts.size()) * sizeof(uint32_t));
        }
      }
    }
    const Slot& slot = slots_[keys[k].slot];
    if (k == 0 || keys[k].window_index != keys[k - 1].window_index) {
      empty.window_start = WindowStart(slot.window_index);
    }
    ClientPrefixWindow& window = out.emplace_back(empty);
    window.client_prefix = slot.prefix;
    window.flows = slot.flows;
    window.packets = slot.packets;
    window.bytes = slot.bytes;
    for (size_t m = 0; m < kRttMethodCount; ++m) {
      for (size_t l = 0; l < kRttLegCount; ++l) {
        QuantileSketch& sketch = window.rtt_us[m][l];
        const size_t which = m * kRttLegCount + l;
        // Series without samples (often most) stay empty: no call.
        if (slot.rtt[which].max_ns >= 0) slot.rtt[which].MoveTo(&sketch, arena);
        if (slot.other) (void)sketch.Merge((*slot.other)[which]);
      }
    }
  }
  // Keep the rest, in order, and index them again.
  size_t kept = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].window_index < below_index) continue;
    if (i != kept) slots_[kept] = std::move(slots_[i]);
    ++kept;
  }
  slots_.Truncate(kept);
  CompactArena();
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
