#include "probe/client_prefix_aggregator.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <tuple>

namespace vantage::probe {

size_t ClientPrefixAggregator::KeyHash::operator()(const Key& k) const {
  uint64_t w0;
  uint64_t w1;
  std::memcpy(&w0, k.prefix.address().bytes(), 8);
  std::memcpy(&w1, k.prefix.address().bytes() + 8, 8);
  uint64_t h = static_cast<uint64_t>(k.window_index) * 0x9e3779b97f4a7c15ULL;
  h ^= static_cast<uint64_t>(k.prefix.length()) << 1 |
       static_cast<uint64_t>(k.prefix.address().is_v6());
  h = (h ^ w0) * 0xff51afd7ed558ccdULL;
  h = (h ^ (h >> 32) ^ w1) * 0xc4ceb9fe1a85ec53ULL;
  // MurmurHash3's finaliser (flat_hash_map needs well-mixed low bits).
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return static_cast<size_t>(h);
}

ClientPrefixAggregator::ClientPrefixAggregator(absl::Duration window, size_t max_entries,
                                               double sketch_alpha)
    : window_(window > absl::ZeroDuration() ? window : absl::Minutes(1)),
      window_ns_(window_ == absl::InfiniteDuration() ? 0 : absl::ToInt64Nanoseconds(window_)),
      max_entries_(max_entries),
      sketch_alpha_(sketch_alpha) {}

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

ClientPrefixWindow* ClientPrefixAggregator::Entry(int64_t window_index, const Prefix& prefix) {
  const Key key{window_index, prefix};
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second.get();
  if (entries_.size() >= max_entries_) {
    ++dropped_entries_;
    return nullptr;
  }
  auto entry = std::make_unique<ClientPrefixWindow>();
  entry->window_start = WindowStart(key.window_index);
  entry->window = window_;
  entry->client_prefix = prefix;
  if (sketch_alpha_ != QuantileSketch::kDefaultAlpha) {
    for (auto& legs : entry->rtt_us) {
      for (QuantileSketch& sketch : legs) sketch = QuantileSketch(sketch_alpha_);
    }
  }
  return entries_.emplace(key, std::move(entry)).first->second.get();
}

void ClientPrefixAggregator::OnSample(const RttSample& sample) {
  ClientPrefixWindow* entry = Entry(WindowIndex(sample.time), sample.client_prefix);
  if (entry == nullptr) return;
  entry->rtt_us[static_cast<size_t>(sample.method)][static_cast<size_t>(sample.leg)].Add(
      absl::ToDoubleMicroseconds(sample.rtt));
}

ClientPrefixWindow* ClientPrefixAggregator::LookUpEntry(const Prefix& prefix, int64_t time_ns,
                                                        CachedEntry* cache) {
  const int64_t index = WindowIndexNs(time_ns);
  cache->entry = Entry(index, prefix);
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
                                        CachedEntry* cache) {
  for (const FlowRttSample& s : samples) {
    ClientPrefixWindow* entry = EntryAt(prefix, s.time_ns(), cache);
    if (entry == nullptr) continue;
    // ns / 1000.0 is what ToDoubleMicroseconds gives for whole nanoseconds.
    entry->rtt_us[static_cast<size_t>(s.method())][static_cast<size_t>(s.leg())].Add(
        static_cast<double>(s.rtt_ns()) / 1000.0);
  }
}

void ClientPrefixAggregator::OnSampleBatch(const Prefix& client_prefix,
                                           absl::Span<const FlowRttSample> samples) {
  CachedEntry cache;
  AddSamples(client_prefix, samples, &cache);
}

void ClientPrefixAggregator::OnFlowReport(const FlowReport& report) {
  const Prefix& prefix = *report.client_prefix;
  CachedEntry cache;
  if (report.new_flow) {
    if (ClientPrefixWindow* e = EntryAt(prefix, report.first_seen_ns, &cache)) ++e->flows;
  }
  AddSamples(prefix, report.samples, &cache);
  if (report.packets > 0) {
    if (ClientPrefixWindow* e = EntryAt(prefix, report.last_seen_ns, &cache)) {
      e->packets += report.packets;
      e->bytes += report.ip_bytes;
    }
  }
}

void ClientPrefixAggregator::OnFlow(absl::Time time, const Prefix& client_prefix) {
  ClientPrefixWindow* entry = Entry(WindowIndex(time), client_prefix);
  if (entry != nullptr) ++entry->flows;
}

void ClientPrefixAggregator::OnTraffic(absl::Time time, const Prefix& client_prefix,
                                       uint64_t packets, uint64_t ip_bytes) {
  ClientPrefixWindow* entry = Entry(WindowIndex(time), client_prefix);
  if (entry == nullptr) return;
  entry->packets += packets;
  entry->bytes += ip_bytes;
}

std::vector<ClientPrefixWindow> ClientPrefixAggregator::Take(int64_t below_index) {
  // Sorts the boxes, not the windows (six sketches each: costly to move).
  std::vector<std::pair<Key, std::unique_ptr<ClientPrefixWindow>>> taken;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->first.window_index < below_index) {
      taken.emplace_back(it->first, std::move(it->second));
      entries_.erase(it++);
    } else {
      ++it;
    }
  }
  std::sort(taken.begin(), taken.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.window_index, a.first.prefix) <
           std::tie(b.first.window_index, b.first.prefix);
  });
  std::vector<ClientPrefixWindow> out;
  out.reserve(taken.size());
  for (auto& [key, window] : taken) out.push_back(std::move(*window));
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
