#include "collector/latest_graph.h"

#include <tuple>
#include <utility>

#include "core/quantile_sketch.h"
#include "core/status_macros.h"

namespace vantage::collector {

namespace {

struct Accumulated {
  QuantileSketch sketch;
  uint64_t sent = 0;
  uint64_t received = 0;
  absl::Time updated = absl::InfinitePast();
};

std::optional<graph::Method> ActiveMethod(int method) {
  switch (method) {
    case v1::METHOD_ICMP:
      return graph::Method::kIcmp;
    case v1::METHOD_TCP_SYN:
      return graph::Method::kTcp;
    case v1::METHOD_STAMP:
      return graph::Method::kStamp;
    default:
      return std::nullopt;
  }
}

}  // namespace

absl::StatusOr<LatestGraph> BuildGraphFromLatest(const PushModel& model,
                                                 const std::map<SeriesKey, LatestSeries>& latest,
                                                 absl::Time now) {
  LatestGraph out;
  VANTAGE_ASSIGN_OR_RETURN(out.graph, GraphSkeleton(model));
  out.graph.set_snapshot_time(now);
  std::map<std::tuple<graph::PopId, graph::RegionId, graph::Method>, Accumulated> acc;
  for (const auto& [key, series] : latest) {
    if (key.kind != SeriesKind::kActive) continue;
    auto method = ActiveMethod(key.method);
    auto pop = out.graph.FindPop(key.pop);
    v1::ActiveSeries s;
    auto target = IpAddress::Parse(key.key);
    if (!method.has_value() || !pop.has_value() || !target.ok() ||
        !s.ParseFromString(series.body)) {
      out.ignored++;
      continue;
    }
    std::optional<graph::RegionId> region;
    int best_len = -1;
    for (size_t r = 0; r < model.regions.size(); ++r) {
      for (const auto& p : model.regions[r].prefixes) {
        if (p.Contains(*target) && p.length() > best_len) {
          best_len = p.length();
          region = static_cast<graph::RegionId>(r);
        }
      }
    }
    auto sketch = QuantileSketch::Deserialize(s.rtt_sketch());
    if (!region.has_value() || !sketch.ok()) {
      out.ignored++;
      continue;
    }
    auto& a = acc[{*pop, *region, *method}];
    if (a.sketch.count() == 0) {
      a.sketch = *sketch;
    } else if (!a.sketch.Merge(*sketch).ok()) {
      out.ignored++;
      continue;
    }
    a.sent += s.sent();
    a.received += s.received();
    a.updated = std::max(a.updated, series.window_end);
    out.used++;
  }
  for (const auto& [k, a] : acc) {
    graph::Measurement m;
    m.method = std::get<2>(k);
    if (a.sketch.count() > 0) {
      m.rtt_p50_ms = a.sketch.Quantile(0.5) / 1000.0;
      m.rtt_p90_ms = std::max(m.rtt_p50_ms, a.sketch.Quantile(0.9) / 1000.0);
      m.rtt_p99_ms = std::max(m.rtt_p90_ms, a.sketch.Quantile(0.99) / 1000.0);
    }
    m.loss = a.sent == 0 ? 0.0
                         : 1.0 - static_cast<double>(std::min(a.received, a.sent)) /
                                     static_cast<double>(a.sent);
    m.samples = a.sketch.count();
    m.updated = a.updated;
    if (m.samples == 0) continue;  // nothing answered: leave the path missing
    VANTAGE_RETURN_IF_ERROR(out.graph.RecordMeasurement(std::get<0>(k), std::get<1>(k), m));
    out.newest = std::max(out.newest, a.updated);
  }
  return out;
}

}  // namespace vantage::collector
