// ClientPrefixAggregator: the PassiveRttSink that turns samples and traffic
// into per-(client prefix, window) statistics — an RTT QuantileSketch (in
// microseconds) per method and leg, flow counts, packets and bytes (the
// demand signal). It only ever sees client prefixes (aggregated and, when
// keyed, pseudonymised by PassiveRtt's ClientPrefixer), never addresses.
//
// Windows are aligned to multiples of `window` since the Unix epoch, by
// packet time; an infinite window gives one window for a whole capture.
// Memory is bounded by max_entries (prefix x window); beyond it new entries
// are counted in dropped_entries() and ignored.
//
// It takes samples in batches (batches_samples() is true): one batch is one
// flow's samples, and a flow report (OnFlowReport) carries the flow's new
// flow count, samples and traffic together, so the (prefix, window) entry is
// looked up once per report and window, not once per sample. Reports wait
// in a short ring while their table slot, (prefix, window) slot and bucket
// counters are prefetched, and are then processed in order, each at once
// (every other call drains the ring first). Samples are counted
// per sketch bucket (RttCounts: half a cache line per method and leg, the
// bucket index of a whole number of nanoseconds cached per 1/128 octave)
// and become QuantileSketches, equal to adding them one by one, when their
// window is taken. Memory: 256 bytes per (prefix, window) (incl. 2 bucket
// counters per method and leg) plus, for series spread over more buckets,
// their 32-bit counters with spare room (in whole cache lines: at least
// one, at most max_bins + 1 counters rounded up, per series, in one arena of
// at most about twice the live counters, and 2^32), 128 KiB of index cells.
//
// Thread model: one thread (the PassiveRtt's); not synchronised.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/ip_address.h"
#include "core/quantile_sketch.h"
#include "probe/passive_rtt.h"

namespace vantage::probe {

struct ClientPrefixWindow {
  absl::Time window_start;  // InfinitePast for an infinite window
  absl::Duration window;
  Prefix client_prefix;
  std::array<std::array<QuantileSketch, kRttLegCount>, kRttMethodCount> rtt_us;
  uint64_t flows = 0;
  uint64_t packets = 0;
  uint64_t bytes = 0;

  const QuantileSketch& Rtt(RttMethod method, RttLeg leg) const {
    return rtt_us[static_cast<size_t>(method)][static_cast<size_t>(leg)];
  }
};

class ClientPrefixAggregator : public PassiveRttSink {
 public:
  // (method, leg) pairs: the RTT series of a prefix and window.
  static constexpr size_t kRttSeries = size_t{kRttMethodCount} * kRttLegCount;

  // `sketch_alpha` is the RTT sketches' relative accuracy: the default (1%)
  // for reports; one-shot analyses checked against a 1% bound (pcap-rtt)
  // pass a finer one, since quantisation alone can use up 1%.
  explicit ClientPrefixAggregator(absl::Duration window = absl::Minutes(1),
                                  size_t max_entries = 1 << 20,
                                  double sketch_alpha = QuantileSketch::kDefaultAlpha);

  void OnSample(const RttSample& sample) override;
  bool batches_samples() const override { return true; }
  void OnSampleBatch(const Prefix& client_prefix, absl::Span<const FlowRttSample> samples) override;
  void OnFlow(absl::Time time, const Prefix& client_prefix) override;
  void OnTraffic(absl::Time time, const Prefix& client_prefix, uint64_t packets,
                 uint64_t ip_bytes) override;
  void OnFlowReport(const FlowReport& report) override;

  // Removes and returns the windows that ended at or before `now`, sorted by
  // window then prefix.
  std::vector<ClientPrefixWindow> TakeCompleted(absl::Time now);
  // Removes and returns every window (end of capture).
  std::vector<ClientPrefixWindow> TakeAll();

  // The 32-bit counter the sample (prefix, time, method, leg, rtt_ns)
  // would increment, nullptr when none exists yet: tests set it close to
  // wrapping.
  uint32_t* CounterForTesting(const Prefix& prefix, absl::Time time, RttMethod method, RttLeg leg,
                              int64_t rtt_ns);

  // Tests: an arena of at most `counters` (32-bit positions: 2^32 - 1).
  void set_arena_limit_for_testing(size_t counters) { arena_limit_ = counters; }

  // Not const: they first process the reports still queued.
  uint64_t dropped_entries() {
    Drain();
    return dropped_entries_;
  }
  size_t open_entries() {
    Drain();
    return slots_.size();
  }

 private:
  // RTT samples of one (prefix, window, method, leg) as counts per sketch
  // bucket (QuantileSketch::Index of the RTT in microseconds), with exact
  // min and max in nanoseconds: half a cache line (the two legs of a method
  // share one), no sketch parameters, no double min/max per sample, no
  // total (it is the counts' sum). Taken windows turn it into the
  // QuantileSketch (AddPositiveBucket), equal to adding the samples one by
  // one. Min and max may be updated before the counts (both are
  // order-independent and idempotent).
  //
  // Counters are 32-bit (half the memory of 64-bit ones, so more stay in
  // cache): one that wraps carries 2^32 into the slot's side sketch of the
  // series (`other`, merged when taken; merging is exact), so counts stay
  // exact whatever they reach.
  //
  // Up to kPairs distinct buckets (zero RTTs being one) live in the series
  // itself as (index, count) pairs, anywhere (no allocation, nothing more
  // to fetch: a series of a few RTTs, as most prefixes' are in a minute,
  // however far apart). Beyond, the counts move to a dense array in the
  // aggregator's arena, with spare room at both ends (growth is amortised:
  // a sample outside it moves it with the used range plus half of it on
  // either side), zeros outside the used range, then the zero-RTT counter,
  // in whole cache lines from a line's start (ArrayWords: a first array is
  // one line, 15 buckets, +-15% around the RTTs seen; a report's counters
  // of a series are then mostly in one line, prefetched whole).
  // Beyond max_bins buckets the lowest fold into the lowest kept one, as
  // the sketch's own store does (so memory stays bounded and the result
  // equal: the fold depends only on the highest index, not on the order);
  // the array spans at most max_bins buckets, so a sample anywhere inside
  // it never folds anything (the floor, highest index - max_bins + 1, stays
  // at or below its start): in range, a sample just counts. Pairs never
  // fold (they are handed to the sketch one by one, which folds them as it
  // would the samples).
  static constexpr size_t kPairs = 2;
  // Index words that are no bucket's (indices stay far from them): an
  // unused pair, the pair of zero RTTs, dense counts.
  static constexpr int32_t kNoBucket = std::numeric_limits<int32_t>::max();
  static constexpr int32_t kZeroBucket = kNoBucket - 1;
  static constexpr int32_t kDense = kNoBucket - 2;
  struct alignas(32) RttCounts {
    int64_t min_ns = std::numeric_limits<int64_t>::max();
    int64_t max_ns = -1;  // < 0: no sample yet
    // Pairs: words[2k] a bucket index (kNoBucket: unused, kZeroBucket: 0
    // ns; filled from the first), words[2k + 1] its count. Dense counts
    // (words[0] == kDense): words[1] the bucket index of the first
    // counter, words[2] the counters, words[3] where they start in the
    // arena; the zero-RTT counter follows them.
    std::array<uint32_t, 2 * kPairs> words = {kNoBucket, 0, kNoBucket, 0};

    bool dense() const { return words[0] == static_cast<uint32_t>(kDense); }
    int32_t offset() const { return static_cast<int32_t>(words[1]); }
    uint32_t size() const { return words[2]; }
    uint32_t at() const { return words[3]; }
    void AddMinMax(int64_t rtt_ns) {
      // Branches: both rarely change once a window has a few samples.
      if (rtt_ns < min_ns) min_ns = rtt_ns;
      if (rtt_ns > max_ns) max_ns = rtt_ns;
    }
    // The counter of bucket `index` (not kZeroBucket); nullptr when it has
    // none (kNoIndex never has one). In 32 bits (indices and offsets are
    // far from 2^31: index - offset wraps only when outside the range,
    // kNoIndex's too). `arena`: arena_.data().
    uint32_t* Counter(int32_t index, uint32_t* arena) {
      return dense() ? DenseCounter(index, arena) : Pair(index);
    }
    // Counter of dense counts (dense() only).
    template <typename T>
    T* DenseCounter(int32_t index, T* arena) const {
      const uint32_t i = static_cast<uint32_t>(index) - words[1];
      return i < words[2] ? &arena[words[3] + i] : nullptr;
    }
    // The counter of zero RTTs; nullptr when it has none.
    uint32_t* ZeroCounter(uint32_t* arena) {
      return dense() ? &arena[words[3] + words[2]] : Pair(kZeroBucket);
    }
    uint32_t* Pair(int32_t index) {
      if (static_cast<int32_t>(words[0]) == index) return &words[1];
      if (static_cast<int32_t>(words[2]) == index) return &words[3];
      return nullptr;
    }
    // `arena`: arena_.data().
    void MoveTo(QuantileSketch* sketch, const uint32_t* arena) const;
  };
  // One (window, prefix): the key and counters in the first cache line,
  // then one line per method (its two legs).
  struct alignas(64) Slot {
    int64_t window_index = 0;
    Prefix prefix;
    uint64_t flows = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    // Samples that are not whole non-negative nanoseconds (OnSample with
    // an arbitrary Duration), and the 2^32 carried by counters that
    // wrapped: full sketches, merged in when taken.
    std::unique_ptr<std::array<QuantileSketch, kRttSeries>> other;
    std::array<RttCounts, kRttSeries> rtt;
  };
  // Of the window, the address as two words, the family and length; the
  // top bits (table index and tag) are a product's, which depend on all.
  static uint64_t Hash(int64_t window_index, const Prefix& prefix) {
    return HashMixed(WindowMix(window_index), prefix);
  }
  // Hash's first step, of the window alone (kept per window: OnFlowReport).
  static uint64_t WindowMix(int64_t window_index) {
    return static_cast<uint64_t>(window_index) * 0x9e3779b97f4a7c15ULL;
  }
  static uint64_t HashMixed(uint64_t window_mix, const Prefix& prefix) {
    uint64_t w0;
    uint64_t w1;
    std::memcpy(&w0, prefix.address().bytes(), 8);
    std::memcpy(&w1, prefix.address().bytes() + 8, 8);
    const uint64_t meta = static_cast<uint64_t>(prefix.length()) << 1 |
                          static_cast<uint64_t>(prefix.address().is_v6());
    uint64_t h = (window_mix ^ meta ^ w0) * 0xff51afd7ed558ccdULL;
    return (h ^ (h >> 32) ^ w1) * 0xc4ceb9fe1a85ec53ULL;
  }
  static_assert(kRttLegCount == 2, "FlowRttSample packs method << 1 | leg");
  // The slot of (window, prefix), created when missing; nullptr when full
  // (counted).
  Slot* Find(int64_t window_index, const Prefix& prefix);
  void Rehash(size_t table_size);
  // A table entry: the slot's address with a tag of its hash in the bits
  // that no slot's address uses (the top 8: user addresses stay below
  // 2^56; the low 6: slots are 64-byte aligned). A tag that matches is
  // confirmed by the slot's key.
  static constexpr uint64_t kTagBits = 0xff0000000000003fULL;
  static_assert(alignof(Slot) >= 64);
  static uint64_t TableEntry(uint64_t hash, Slot* slot) {
    return (hash & kTagBits) | reinterpret_cast<uintptr_t>(slot);
  }
  static bool SameTag(uint64_t entry, uint64_t hash) { return ((entry ^ hash) & kTagBits) == 0; }
  static Slot* SlotOf(uint64_t entry) {
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    return reinterpret_cast<Slot*>(entry & ~kTagBits);
  }
  // The entry of one prefix last looked up and its window's time range
  // [start_ns, start_ns + span_ns], so that times inside it need neither a
  // division nor a lookup.
  struct CachedEntry {
    int64_t start_ns = 0;
    uint64_t span_ns = 0;
    Slot* entry = nullptr;
    bool valid = false;
  };
  static bool InRange(int64_t time_ns, int64_t start_ns, uint64_t span_ns) {
    return static_cast<uint64_t>(time_ns) - static_cast<uint64_t>(start_ns) <= span_ns;
  }
  Slot* EntryAt(const Prefix& prefix, int64_t time_ns, CachedEntry* cache) {
    if (cache->valid && InRange(time_ns, cache->start_ns, cache->span_ns)) return cache->entry;
    return LookUpEntry(prefix, time_ns, cache);
  }
  Slot* LookUpEntry(const Prefix& prefix, int64_t time_ns, CachedEntry* cache);
  // One by one, each in its own window.
  void AddSamples(const Prefix& prefix, absl::Span<const FlowRttSample> samples,
                  CachedEntry* cache);

  // Flow reports (and sample batches) wait in a short ring while the memory
  // they will update is prefetched, so that the cache misses of several
  // reports overlap; they are processed in order, each at once, and every
  // other entry point drains the ring first, so results are those of
  // processing each report as it comes. By age: 0, the table line of its
  // (window, prefix) is prefetched; kSlotAge, the slot the table's tag
  // points to (all four of its lines); kCounterAge, the dense arrays of the
  // slot's series (whole when of up to kWholeLines lines, else each
  // sample's counter); kProcessAge, processed: the slot confirmed (or
  // created, when one by one it would be the first created), then the flow,
  // each sample's min, max and bucket counter, the traffic. Times outside the slot's window
  // and buckets outside a series' range take slower paths from there on.
  static constexpr size_t kQueueDepth = 8;
  static constexpr size_t kSlotAge = 3;
  static constexpr size_t kCounterAge = 5;
  static constexpr size_t kProcessAge = 6;
  // PrefetchCounters fetches dense arrays of up to this many lines whole.
  static constexpr size_t kWholeLines = 4;
  static_assert(kSlotAge < kCounterAge && kCounterAge < kProcessAge && kProcessAge < kQueueDepth);
  struct QueuedReport {
    Prefix prefix;
    bool new_flow = false;
    // A flow report's samples, in time order (not a sample batch's:
    // OnSampleBatch takes any).
    bool in_order = true;
    uint32_t sample_count = 0;
    // The window's range is known (WindowRange): [window_start_ns,
    // window_start_ns + window_span_].
    bool window_known = false;
    Slot* slot = nullptr;  // its slot (a hint)
    int64_t window_start_ns = 0;
    int64_t first_seen_ns = 0;
    int64_t last_seen_ns = 0;
    uint64_t packets = 0;
    uint64_t ip_bytes = 0;
    uint64_t hash = 0;  // of (window_index, prefix)
    // The window most of it goes to: the traffic's, else the first sample's.
    int64_t window_index = 0;
    std::array<FlowRttSample, PassiveRtt::kSampleBatch> samples;
  };
  // OnFlowReport, or OnSampleBatch (kInOrder false: samples in any
  // order).
  template <bool kInOrder>
  void Enqueue(const FlowReport& report);
  // Age kSlotAge: sets q->slot and prefetches.
  void LocateSlot(QueuedReport* q);
  // Age kCounterAge: the dense counters the report's samples will
  // increment (the slot's lines have arrived), prefetched for writing:
  // the arrays of up to kWholeLines lines whole (no sample read), larger
  // ones at each sample's counter.
  void PrefetchCounters(const QueuedReport& q);
  // A report of more samples than a queue entry holds, after the queue.
  void ProcessAtOnce(const FlowReport& report);
  void ProcessOldest() {
    const QueuedReport& q = queue_[queue_head_];
    // q stays as it is until the next report is queued.
    queue_head_ = (queue_head_ + 1) % kQueueDepth;
    --queue_size_;
    Process(q);
  }
  void Process(const QueuedReport& q);
  // Flow, samples and traffic each looked up.
  void ProcessOneByOne(const QueuedReport& q);
  // Counts a sample of `rtt_ns` of series `series` (min and max applied
  // already); `index`: its cell's answer (maybe kNoIndex) when > 0.
  void AddCount(Slot* slot, size_t series, int64_t rtt_ns, int32_t index);
  // Adds a sample of bucket `index` (kZeroBucket: 0 ns) to `counter` (the
  // series' counter of it), carrying 2^32 when it wraps.
  void Increment(Slot* slot, size_t series, int32_t index, uint32_t* counter) {
    if (++*counter == 0) [[unlikely]] {
      Carry(slot, series, index);
    }
  }
  // `count` samples of bucket `index` (kZeroBucket: of 0 ns) into the side
  // sketch; Carry: the 2^32 of a counter that wrapped.
  void Spill(Slot* slot, size_t series, int32_t index, uint64_t count);
  void Carry(Slot* slot, size_t series, int32_t index) {
    Spill(slot, series, index, uint64_t{1} << 32);
  }
  std::array<QuantileSketch, kRttSeries>& Other(Slot* slot);
  // The counts of `series` dense, with a sample of bucket `index`
  // (kZeroBucket: 0 ns) added.
  void Grow(Slot* slot, size_t series, int32_t index);
  // Copies the live dense arrays (those of slots_) to the start of a new
  // arena.
  void CompactArena();
  void Drain() {
    while (queue_size_ > 0) ProcessOldest();
  }
  // The slot (window, prefix) hashing to `hash`, nullptr when none (no
  // insertion).
  Slot* Peek(uint64_t hash, int64_t window_index, const Prefix& prefix) const;
  // [start, start + span] of window `index`; false when it does not fit in
  // int64 nanoseconds from the epoch on (such times are looked up one by one).
  bool WindowRange(int64_t index, int64_t* start, uint64_t* span) const {
    *span = window_span_;
    if (window_ns_ == 0) {
      *start = std::numeric_limits<int64_t>::min();
      return true;
    }
    // Only times whose WindowIndexNs is `index` fall in it: times before the
    // epoch (WindowIndexNs rounds them its own way) and ends past int64 are
    // left to lookups.
    int64_t end;
    return !__builtin_mul_overflow(index, window_ns_, start) &&
           !__builtin_add_overflow(*start, window_ns_, &end) && *start >= 0;
  }
  int64_t WindowIndex(absl::Time time) const;
  int64_t WindowIndexNs(int64_t time_ns) const;
  absl::Time WindowStart(int64_t index) const;
  std::vector<ClientPrefixWindow> Take(int64_t below_index);

  absl::Duration window_;
  int64_t window_ns_;     // 0 for an infinite window
  uint64_t window_span_;  // window_ns_ - 1; all ones for an infinite window
  size_t max_entries_;
  // An empty sketch with the windows' parameters: its Index() buckets
  // samples.
  QuantileSketch prototype_;
  // prototype_.Index of a whole, positive number of nanoseconds (in
  // microseconds), cached per 1/2^kSubBits of an octave of nanoseconds:
  // cells are narrower than buckets, so at most one bucket edge falls in a
  // cell, and a cell keeps its lowest bucket and that bucket's last
  // nanosecond count. Cells are filled from Index itself (which is monotonic),
  // so the result is always Index's. A cell that cannot tell (not filled
  // yet, two edges inside, counts below 2^kSubBits or from 2^52 on, where
  // the double of 2 * count + 1 is not exact, or no cells at all: a sketch whose
  // buckets are narrower than 2 cells, none is ever filled) answers
  // kNoIndex, far below any bucket: a bucket array never holds it, so the
  // fast paths need no check of their own.
  static constexpr int32_t kNoIndex = std::numeric_limits<int32_t>::min();
  struct IndexCell {
    // The last count of `index` (the next one's start - 1: compared as
    // `last < count`, an add with carry); max when the cell holds one
    // bucket.
    int64_t last = std::numeric_limits<int64_t>::max();
    int32_t index = kNoIndex;
  };
  // Marks a cell with two bucket edges inside (last, with index kNoIndex).
  static constexpr int64_t kTwoEdges = std::numeric_limits<int64_t>::max() - 1;
  // `rtt_ns` in [0, FlowRttSample::kMaxRttNs]: its bucket, or kNoIndex
  // (always for 0). The double's exponent and top kSubBits mantissa bits
  // are the octave and the cell within it, of 2 * rtt_ns + 1 (one lea; the
  // octave one up, the same top bits from 2^kSubBits on, below which no
  // cell is filled), so 0 has a cell too (octave 0: never filled) and zero
  // RTTs need no test of their own.
  // `cell_base`: cell_base_. A fixed shift: a constant in the loops.
  static int32_t CellIndex(uintptr_t cell_base, int64_t rtt_ns) {
    const auto bits = std::bit_cast<uint64_t>(static_cast<double>(2 * rtt_ns + 1));
    // The biased base is an integer: as a pointer it would point outside
    // cells_.
    const uintptr_t address = cell_base + (bits >> kCellShift) * sizeof(IndexCell);
    // NOLINTNEXTLINE(performance-no-int-to-ptr)
    const auto& cell = *reinterpret_cast<const IndexCell*>(address);
    return cell.index + (static_cast<uint64_t>(cell.last) < static_cast<uint64_t>(rtt_ns) ? 1 : 0);
  }

  // `rtt_ns` in [1, FlowRttSample::kMaxRttNs].
  int32_t IndexOf(int64_t rtt_ns) {
    const int32_t index = CellIndex(cell_base_, rtt_ns);
    return index != kNoIndex ? index : IndexSlow(rtt_ns);
  }
  // Fills the cell of `rtt_ns` if it can; Index when no cell applies.
  int32_t IndexSlow(int64_t rtt_ns);
  // Cells per octave: 2^kSubBits (1% sketches need 7: narrower than half
  // a bucket).
  static constexpr int kSubBits = 7;
  // The cell of a double's bits: (bits >> kCellShift) - kCellBias (the
  // exponent bias, 1023 << kSubBits).
  static constexpr int kCellShift = 52 - kSubBits;
  static constexpr uint64_t kCellBias = uint64_t{1023} << kSubBits;
  // The smallest count the cells cover: 2^kSubBits (max without cells).
  int64_t min_cached_ns_ = std::numeric_limits<int64_t>::max();
  // 64 << kSubBits cells each (counts < 2^55: octaves < 56).
  std::vector<IndexCell> cells_;
  // The address of cell (bits >> kCellShift) is cell_base_ + that * 16
  // (cells_.data() less the bias, as an integer).
  uintptr_t cell_base_ = 0;
  // Slots in chunks: growing moves none and touches no memory twice (as a
  // vector's doubling would: page faults), and the chunks stay for the
  // windows that follow (at most max_entries slots' worth).
  class SlotStore {
   public:
    Slot& operator[](size_t i) { return chunks_[i >> kChunkBits][i & (kChunkSlots - 1)]; }
    const Slot& operator[](size_t i) const {
      return chunks_[i >> kChunkBits][i & (kChunkSlots - 1)];
    }
    size_t size() const { return size_; }
    Slot& Append() {
      if (size_ == chunks_.size() << kChunkBits) {
        chunks_.push_back(std::make_unique<Slot[]>(kChunkSlots));
      }
      return (*this)[size_++];
    }
    // Keeps the first n slots; the others are emptied (their memory freed).
    void Truncate(size_t n) {
      for (size_t i = n; i < size_; ++i) (*this)[i] = Slot();
      size_ = std::min(size_, n);
    }

   private:
    static constexpr int kChunkBits = 7;  // 32 KiB
    static constexpr size_t kChunkSlots = size_t{1} << kChunkBits;
    std::vector<std::unique_ptr<Slot[]>> chunks_;
    size_t size_ = 0;
  };
  // Dense slots; an open-addressing table (linear probing, at most half
  // full) of (hash tag, slot address) finds them. Slots move only in Take
  // (which rebuilds the table).
  SlotStore slots_;
  std::vector<uint64_t> table_;  // TableEntry; 0 = empty
  int table_shift_ = 64;         // 64 - log2(table size): a hash's top bits index it
  uint64_t dropped_entries_ = 0;
  // The window of the last report queued, [start, start + window_span_]
  // (window 0 at first, which it is).
  int64_t last_window_index_ = 0;
  uint64_t last_window_mix_ = 0;  // WindowMix(last_window_index_)
  int64_t last_window_start_ns_ = 0;
  // The arena's dense arrays start on cache lines and fill whole ones
  // (ArrayWords), its storage from a line's start (LineAligned: operator
  // new with 64-byte alignment).
  static constexpr size_t kLineWords = 64 / sizeof(uint32_t);
  template <typename T>
  struct LineAligned {
    using value_type = T;
    LineAligned() = default;
    template <typename U>
    explicit LineAligned(const LineAligned<U>& /*other*/) {}
    T* allocate(size_t n) {
      return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64}));
    }
    void deallocate(T* p, size_t /*n*/) { ::operator delete (p, std::align_val_t{64}); }
    bool operator==(const LineAligned& /*other*/) const { return true; }
  };
  using Arena = std::vector<uint32_t, LineAligned<uint32_t>>;
  // The words of an array of `size` counters: with the zero counter, in
  // whole cache lines.
  static size_t ArrayWords(uint32_t size) {
    return (size_t{size} + 1 + kLineWords - 1) & ~(kLineWords - 1);
  }
  // Dense counts of all series (RttCounts), arena_live_ of them in use; the
  // rest, left by arrays that grew, is reclaimed (CompactArena) once it
  // outgrows them, and at every Take. Its positions are 32-bit: at most
  // arena_limit_ counters (when live counts fill it, samples that need a
  // new array go to the side sketch).
  Arena arena_;
  size_t arena_live_ = 0;
  size_t arena_limit_ = std::numeric_limits<uint32_t>::max();
  std::array<QueuedReport, kQueueDepth> queue_;
  size_t queue_head_ = 0;  // the oldest
  size_t queue_size_ = 0;
};

}  // namespace vantage::probe
