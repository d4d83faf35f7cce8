// DnsAggregator: folds DnsQueryResults into windows per series — one series
// per (server, qname, qtype, qclass) — with a time sketch (µs), RCODE counts,
// timeouts, truncations and TCP retries, catchment counts, and catchment
// flips: the moments the answering instance (NSID, or CHAOS TXT) of a series
// changed. The last catchment of a series survives the window, so a flip
// between two windows is reported in the later one.
//
// Thread model: a value type; not synchronised (the probe feeds it on its
// loop thread and hands closed windows to the exporter).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "core/quantile_sketch.h"
#include "resolver/dns_query_result.h"

namespace vantage::resolver {

struct DnsSeriesKey {
  Endpoint server;
  std::string qname;
  uint16_t qtype = 0;
  uint16_t qclass = 0;

  friend bool operator==(const DnsSeriesKey&, const DnsSeriesKey&) = default;
  friend bool operator<(const DnsSeriesKey& a, const DnsSeriesKey& b) {
    return std::tie(a.server, a.qname, a.qtype, a.qclass) <
           std::tie(b.server, b.qname, b.qtype, b.qclass);
  }
  template <typename H>
  friend H AbslHashValue(H h, const DnsSeriesKey& k) {
    return H::combine(std::move(h), k.server, k.qname, k.qtype, k.qclass);
  }
};

struct DnsCatchmentFlip {
  absl::Time at;  // send time of the query that saw the new catchment
  uint64_t seq = 0;
  std::string from;
  std::string to;
};

struct DnsWindowStats {
  DnsSeriesKey key;
  absl::Time start;
  absl::Time end;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t timeouts = 0;
  uint64_t errors = 0;
  uint64_t truncated = 0;
  uint64_t tcp_retries = 0;
  uint64_t tcp_answered = 0;
  QuantileSketch time_us;      // UDP send -> answer
  QuantileSketch tcp_time_us;  // TCP retry: query written -> answer
  std::map<int, uint64_t> rcodes;
  // Answers per catchment; answers that carried no identity count under "".
  std::map<std::string, uint64_t> catchments;
  std::vector<DnsCatchmentFlip> flips;

  // Share of queries without an answer, in [0, 1]; 0 when nothing was sent.
  double loss() const {
    return sent == 0 ? 0.0 : 1.0 - static_cast<double>(answered) / static_cast<double>(sent);
  }
};

class DnsAggregator {
 public:
  // `sketch_alpha`: the time sketches' relative accuracy (1% for reports;
  // vantagectl dns asks for 0.1%, as quantisation alone can use up a 1%
  // accuracy budget).
  explicit DnsAggregator(absl::Time window_start,
                         double sketch_alpha = QuantileSketch::kDefaultAlpha)
      : window_start_(window_start), sketch_alpha_(sketch_alpha) {}

  void Add(const DnsQueryResult& result);
  // Returns the window's stats of every series that saw a query (sorted by
  // key) and starts the next window at `end`.
  std::vector<DnsWindowStats> CloseWindow(absl::Time end);
  // The stats so far of one series in the open window, or null.
  const DnsWindowStats* Peek(const DnsSeriesKey& key) const;

 private:
  absl::Time window_start_;
  double sketch_alpha_;
  absl::flat_hash_map<DnsSeriesKey, DnsWindowStats> open_;
  absl::flat_hash_map<DnsSeriesKey, std::string> last_catchment_;
};

}  // namespace vantage::resolver
