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
// looked up once per report and window, not once per sample.
//
// Thread model: one thread (the PassiveRtt's); not synchronised.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
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

  uint64_t dropped_entries() const { return dropped_entries_; }
  size_t open_entries() const { return entries_.size(); }

 private:
  struct Key {
    int64_t window_index;
    Prefix prefix;
    friend bool operator==(const Key&, const Key&) = default;
  };
  // Word-wise: looked up once per sample.
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  ClientPrefixWindow* Entry(int64_t window_index, const Prefix& prefix);
  // The entry of one prefix last looked up and its window's time range, so
  // that times inside it need neither a division nor a lookup.
  struct CachedEntry {
    int64_t start_ns = 0;
    int64_t end_ns = 0;  // exclusive
    ClientPrefixWindow* entry = nullptr;
    bool valid = false;
  };
  ClientPrefixWindow* EntryAt(const Prefix& prefix, int64_t time_ns, CachedEntry* cache) {
    if (cache->valid && time_ns >= cache->start_ns && time_ns < cache->end_ns) return cache->entry;
    return LookUpEntry(prefix, time_ns, cache);
  }
  ClientPrefixWindow* LookUpEntry(const Prefix& prefix, int64_t time_ns, CachedEntry* cache);
  void AddSamples(const Prefix& prefix, absl::Span<const FlowRttSample> samples,
                  CachedEntry* cache);
  int64_t WindowIndex(absl::Time time) const;
  int64_t WindowIndexNs(int64_t time_ns) const;
  absl::Time WindowStart(int64_t index) const;
  std::vector<ClientPrefixWindow> Take(int64_t below_index);

  absl::Duration window_;
  int64_t window_ns_;  // 0 for an infinite window
  size_t max_entries_;
  double sketch_alpha_;
  // Boxed: a window holds six sketches, too big for the probed slots.
  absl::flat_hash_map<Key, std::unique_ptr<ClientPrefixWindow>, KeyHash> entries_;
  uint64_t dropped_entries_ = 0;
};

}  // namespace vantage::probe
