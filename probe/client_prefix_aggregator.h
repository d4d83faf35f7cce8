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
// in a ring of kQueueDepth while their table slot, (prefix, window) slot
// and bucket counters are prefetched (every other call drains it first, so
// results are those of processing each report at once). Samples are counted
// per sketch bucket (RttCounts: one cache line per method and leg, the
// bucket index of a whole number of nanoseconds cached per 1/128 octave)
// and become QuantileSketches, equal to adding them one by one, when their
// window is taken. Memory: 448 bytes per (prefix, window) plus its bucket
// counters (at most max_bins each, as the sketch), 128 KiB of index cells.
//
// Thread model: one thread (the PassiveRtt's); not synchronised.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
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
  // min and max in nanoseconds: one cache line, no sketch parameters, no
  // double min/max per sample. Taken windows turn it into the QuantileSketch
  // (AddPositiveBucket), equal to adding the samples one by one. Beyond
  // max_bins buckets the lowest fold into the lowest kept one, as the
  // sketch's own store does (so memory stays bounded and the result equal).
  struct RttCounts {
    uint64_t count = 0;  // all samples, zero included
    uint64_t zero = 0;   // samples of 0 ns
    int64_t min_ns = 0;  // valid when count > 0
    int64_t max_ns = 0;
    int32_t offset = 0;  // bucket index of buckets[0]
    std::vector<uint64_t> buckets;

    void Add(int64_t rtt_ns, const QuantileSketch& prototype) {
      Add(rtt_ns, rtt_ns == 0 ? 0 : prototype.Index(static_cast<double>(rtt_ns) / 1000.0),
          prototype.max_bins());
    }
    // `index`: the bucket of rtt_ns (Index of it in microseconds) when > 0.
    void Add(int64_t rtt_ns, int32_t index, uint32_t max_bins) {
      if (count == 0) {
        min_ns = max_ns = rtt_ns;
      } else {
        min_ns = std::min(min_ns, rtt_ns);
        max_ns = std::max(max_ns, rtt_ns);
      }
      ++count;
      if (rtt_ns == 0) {
        ++zero;
        return;
      }
      const auto slot = static_cast<uint64_t>(int64_t{index} - offset);
      if (slot < buckets.size()) {
        ++buckets[slot];
      } else {
        AddOutside(index, max_bins);
      }
    }
    void AddOutside(int32_t index, uint32_t max_bins);
    void MoveTo(QuantileSketch* sketch) const;
  };
  // One (window, prefix): the key and counters in the first cache line,
  // then one line per (method, leg).
  struct alignas(64) Slot {
    int64_t window_index = 0;
    Prefix prefix;
    uint64_t flows = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    // Samples that are not whole non-negative nanoseconds (OnSample with
    // an arbitrary Duration): full sketches, merged in when taken.
    std::unique_ptr<std::array<QuantileSketch, kRttSeries>> other;
    std::array<RttCounts, kRttSeries> rtt;
  };
  static uint64_t Hash(int64_t window_index, const Prefix& prefix);
  // The slot of (window, prefix), created when missing; nullptr when full
  // (counted).
  Slot* Find(int64_t window_index, const Prefix& prefix);
  void Rehash(size_t table_size);
  // The entry of one prefix last looked up and its window's time range, so
  // that times inside it need neither a division nor a lookup.
  struct CachedEntry {
    int64_t start_ns = 0;
    int64_t end_ns = 0;  // exclusive
    Slot* entry = nullptr;
    bool valid = false;
  };
  Slot* EntryAt(const Prefix& prefix, int64_t time_ns, CachedEntry* cache) {
    if (cache->valid && time_ns >= cache->start_ns && time_ns < cache->end_ns) return cache->entry;
    return LookUpEntry(prefix, time_ns, cache);
  }
  Slot* LookUpEntry(const Prefix& prefix, int64_t time_ns, CachedEntry* cache);
  // `indices`: each sample's bucket index when known, else empty.
  void AddSamples(const Prefix& prefix, absl::Span<const FlowRttSample> samples,
                  absl::Span<const int32_t> indices, CachedEntry* cache);

  // Flow reports (and sample batches) wait in a short ring while the memory
  // they will update is prefetched, stage by stage, so that the cache misses
  // of several reports overlap; every other entry point drains it first, so
  // results and their order are those of processing each report at once.
  static constexpr size_t kQueueDepth = 8;
  struct QueuedReport {
    Prefix prefix;
    bool new_flow = false;
    int64_t first_seen_ns = 0;
    int64_t last_seen_ns = 0;
    uint64_t packets = 0;
    uint64_t ip_bytes = 0;
    uint32_t sample_count = 0;
    bool indexed = false;   // index[] computed
    uint32_t rtt_mask = 0;  // bit (method * kRttLegCount + leg) per sample present
    uint64_t hash = 0;      // of (window of `time_ns`, prefix), for prefetching
    int64_t window_index = 0;
    uint32_t slot_hint = 0;  // index + 1 of its slot when seen (prefetching)
    std::array<FlowRttSample, PassiveRtt::kSampleBatch> samples;
    std::array<int32_t, PassiveRtt::kSampleBatch> index;
  };
  void Enqueue(const Prefix& prefix, bool new_flow, int64_t first_seen_ns,
               absl::Span<const FlowRttSample> samples, int64_t last_seen_ns, uint64_t packets,
               uint64_t ip_bytes);
  void Prefetch();
  void ProcessOldest();
  void Drain() {
    while (queue_size_ > 0) ProcessOldest();
  }
  // The slot (window, prefix) hashing to `hash` has, if any (no insertion).
  const Slot* Peek(uint64_t hash, int64_t window_index, const Prefix& prefix) const;
  int64_t WindowIndex(absl::Time time) const;
  int64_t WindowIndexNs(int64_t time_ns) const;
  absl::Time WindowStart(int64_t index) const;
  std::vector<ClientPrefixWindow> Take(int64_t below_index);

  absl::Duration window_;
  int64_t window_ns_;  // 0 for an infinite window
  size_t max_entries_;
  // An empty sketch with the windows' parameters: its Index() buckets
  // samples.
  QuantileSketch prototype_;
  // prototype_.Index of a whole, positive number of nanoseconds (in
  // microseconds), cached per 1/2^sub_bits_ of an octave of nanoseconds:
  // cells are narrower than buckets, so at most one bucket edge falls in a
  // cell, and a cell keeps its lowest bucket and the first nanosecond count
  // of the next. Cells are filled from Index itself (which is monotonic),
  // so the result is always Index's.
  struct IndexCell {
    int64_t next = 0;  // 0: not filled; max: no edge inside; -1: use Index
    int32_t index = 0;
  };
  int32_t IndexOf(int64_t rtt_ns) {
    if (rtt_ns >= min_cached_ns_) {
      const int octave = 63 - std::countl_zero(static_cast<uint64_t>(rtt_ns));
      const IndexCell& cell =
          cells_[static_cast<size_t>(octave) << sub_bits_ |
                 (static_cast<size_t>(rtt_ns >> (octave - sub_bits_)) & sub_mask_)];
      if (cell.next > 0) return cell.index + (rtt_ns >= cell.next ? 1 : 0);
    }
    return IndexSlow(rtt_ns);
  }
  // Fills the cell of `rtt_ns` if it has to; Index when no cell applies.
  int32_t IndexSlow(int64_t rtt_ns);
  int sub_bits_ = 0;  // 0: no cache (a sketch too fine for it)
  size_t sub_mask_ = 0;
  // The smallest count the cells cover: 2^sub_bits_ (max without cells).
  int64_t min_cached_ns_ = std::numeric_limits<int64_t>::max();
  std::vector<IndexCell> cells_;  // 64 << sub_bits_
  // Dense slots; an open-addressing table (linear probing, at most half
  // full) of (hash tag, index + 1) finds them. Slots move only in Take.
  std::vector<Slot> slots_;
  std::vector<uint64_t> table_;  // tag << 32 | (index + 1); 0 = empty
  int table_bits_ = 0;
  uint64_t dropped_entries_ = 0;
  std::array<QueuedReport, kQueueDepth> queue_;
  size_t queue_head_ = 0;  // the oldest
  size_t queue_size_ = 0;
};

}  // namespace vantage::probe
