#include "resolver/dns_aggregator.h"

#include <algorithm>

namespace vantage::resolver {

void DnsAggregator::Add(const DnsQueryResult& result) {
  DnsSeriesKey key{result.server, result.question.name, result.question.type,
                   result.question.qclass};
  auto [it, inserted] = open_.try_emplace(key);
  DnsWindowStats& s = it->second;
  if (inserted) {
    s.key = key;
    s.start = window_start_;
    if (sketch_alpha_ != QuantileSketch::kDefaultAlpha) {
      s.time_us = QuantileSketch(sketch_alpha_);
      s.tcp_time_us = QuantileSketch(sketch_alpha_);
    }
  }
  ++s.sent;
  switch (result.outcome()) {
    case DnsOutcome::kAnswer:
      ++s.answered;
      s.time_us.Add(result.time_us());
      break;
    case DnsOutcome::kTimeout:
      ++s.timeouts;
      break;
    case DnsOutcome::kError:
      ++s.errors;
      break;
  }
  if (result.truncated) ++s.truncated;
  if (result.tcp.has_value()) {
    ++s.tcp_retries;
    if (result.tcp->outcome == DnsOutcome::kAnswer) {
      ++s.tcp_answered;
      s.tcp_time_us.Add(absl::ToDoubleMicroseconds(result.tcp->time));
    }
  }
  if (!result.answered()) return;
  ++s.rcodes[result.rcode];
  const std::string catchment = result.Catchment();
  ++s.catchments[catchment];
  if (catchment.empty()) return;
  auto [last, first] = last_catchment_.try_emplace(key, catchment);
  if (!first && last->second != catchment) {
    s.flips.push_back(DnsCatchmentFlip{result.udp.sent_at, result.seq, last->second, catchment});
    last->second = catchment;
  }
}

std::vector<DnsWindowStats> DnsAggregator::CloseWindow(absl::Time end) {
  std::vector<DnsWindowStats> out;
  out.reserve(open_.size());
  for (auto& [key, stats] : open_) {
    stats.end = end;
    out.push_back(std::move(stats));
  }
  open_.clear();
  std::sort(out.begin(), out.end(),
            [](const DnsWindowStats& a, const DnsWindowStats& b) { return a.key < b.key; });
  window_start_ = end;
  return out;
}

const DnsWindowStats* DnsAggregator::Peek(const DnsSeriesKey& key) const {
  auto it = open_.find(key);
  return it == open_.end() ? nullptr : &it->second;
}

}  // namespace vantage::resolver
