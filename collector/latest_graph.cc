#include "collector/latest_graph.h"

#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/quantile_sketch.h"
#include "core/status_macros.h"

namespace vantage::collector {

namespace {

struct Accumulated {
  QuantileSketch sketch;
  uint64_t sent = 0;
  uint64_t received = 0;
  QuantileSketch dns_time;  // DNS answer times (microseconds)
  absl::Time updated = absl::InfinitePast();
};

std::optional<graph::Method> SeriesMethod(SeriesKind kind, int method) {
  switch (kind) {
    case SeriesKind::kActive:
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
    case SeriesKind::kPassive:
      if (method == v1::METHOD_PASSIVE_HANDSHAKE || method == v1::METHOD_PASSIVE_TS_ECHO ||
          method == v1::METHOD_PASSIVE_SEQ_ACK) {
        return graph::Method::kPassive;
      }
      return std::nullopt;
    case SeriesKind::kDns:
      return graph::Method::kDns;
  }
  return std::nullopt;
}

// The region with the longest prefix containing `p` entirely.
std::optional<graph::RegionId> RegionOf(const PushModel& model, const Prefix& p) {
  std::optional<graph::RegionId> region;
  int best_len = -1;
  for (size_t r = 0; r < model.regions.size(); ++r) {
    for (const auto& rp : model.regions[r].prefixes) {
      if (rp.length() > best_len && rp.Contains(p)) {
        best_len = rp.length();
        region = static_cast<graph::RegionId>(r);
      }
    }
  }
  return region;
}

std::optional<graph::RegionId> RegionOf(const PushModel& model, const IpAddress& a) {
  return RegionOf(model, Prefix::Host(a));
}

// One series' contribution: (region, sketch, sent, received, dns sketch).
struct Contribution {
  graph::RegionId region = 0;
  QuantileSketch rtt;
  uint64_t sent = 0;
  uint64_t received = 0;
  QuantileSketch dns_time;
};

std::optional<Contribution> Parse(const PushModel& model, const SeriesKey& key,
                                  const LatestSeries& series) {
  Contribution c;
  switch (key.kind) {
    case SeriesKind::kActive: {
      v1::ActiveSeries s;
      auto target = IpAddress::Parse(key.key);
      if (!target.ok() || !s.ParseFromString(series.body)) return std::nullopt;
      auto region = RegionOf(model, *target);
      auto sketch = QuantileSketch::Deserialize(s.rtt_sketch());
      if (!region.has_value() || !sketch.ok()) return std::nullopt;
      c.region = *region;
      c.rtt = std::move(*sketch);
      c.sent = s.sent();
      c.received = s.received();
      return c;
    }
    case SeriesKind::kPassive: {
      v1::PassiveSeries s;
      auto prefix = Prefix::Parse(key.key);
      if (!prefix.ok() || !s.ParseFromString(series.body) || s.pseudonymised()) {
        return std::nullopt;
      }
      auto region = RegionOf(model, *prefix);
      auto sketch = QuantileSketch::Deserialize(s.rtt_sketch());
      if (!region.has_value() || !sketch.ok()) return std::nullopt;
      c.region = *region;
      c.rtt = std::move(*sketch);
      return c;
    }
    case SeriesKind::kDns: {
      v1::DnsSeries s;
      if (!s.ParseFromString(series.body)) return std::nullopt;
      auto server = Endpoint::Parse(s.server(), 53);
      if (!server.ok()) return std::nullopt;
      auto region = RegionOf(model, server->address());
      auto sketch = QuantileSketch::Deserialize(s.time_sketch());
      if (!region.has_value() || !sketch.ok()) return std::nullopt;
      c.region = *region;
      c.dns_time = std::move(*sketch);
      c.rtt = c.dns_time;
      c.sent = s.sent();
      c.received = s.sent() - std::min(s.sent(), s.timeouts());
      return c;
    }
  }
  return std::nullopt;
}

absl::Status MergeInto(QuantileSketch& into, const QuantileSketch& from) {
  if (from.count() == 0) return absl::OkStatus();
  if (into.count() == 0) {
    into = from;
    return absl::OkStatus();
  }
  return into.Merge(from);
}

}  // namespace

absl::StatusOr<LatestGraph> BuildGraphFromLatest(const PushModel& model,
                                                 const std::map<SeriesKey, LatestSeries>& latest,
                                                 absl::Time now, LossHistory* loss_history) {
  LatestGraph out;
  VANTAGE_ASSIGN_OR_RETURN(out.graph, GraphSkeleton(model));
  out.graph.set_snapshot_time(now);
  std::map<std::tuple<graph::PopId, graph::RegionId, graph::Method>, Accumulated> acc;
  // Per PoP: fresh series seen; active probes sent and answered.
  std::vector<uint64_t> fresh(model.pops.size(), 0), sent(model.pops.size(), 0),
      answered(model.pops.size(), 0);
  for (const auto& [key, series] : latest) {
    auto pop = out.graph.FindPop(key.pop);
    auto method = SeriesMethod(key.kind, key.method);
    if (!pop.has_value() || !method.has_value()) {
      out.ignored++;
      continue;
    }
    if (now - series.window_end > model.max_series_age) {
      out.stale++;
      continue;
    }
    fresh[static_cast<size_t>(*pop)]++;
    if (key.kind == SeriesKind::kActive) {
      v1::ActiveSeries s;
      if (s.ParseFromString(series.body)) {
        sent[static_cast<size_t>(*pop)] += s.sent();
        answered[static_cast<size_t>(*pop)] += s.received();
      }
    }
    auto c = Parse(model, key, series);
    if (!c.has_value()) {
      out.ignored++;
      continue;
    }
    auto& a = acc[{*pop, c->region, *method}];
    if (!MergeInto(a.sketch, c->rtt).ok() || !MergeInto(a.dns_time, c->dns_time).ok()) {
      out.ignored++;
      continue;
    }
    a.sent += c->sent;
    a.received += c->received;
    a.updated = std::max(a.updated, series.window_end);
    out.used++;
  }
  for (size_t p = 0; p < model.pops.size(); ++p) {
    const bool silent = fresh[p] == 0;
    const bool unreachable = sent[p] > 0 && answered[p] == 0;
    if (silent || unreachable) {
      VANTAGE_RETURN_IF_ERROR(out.graph.SetPopHealthy(static_cast<graph::PopId>(p), false));
    }
  }
  for (const auto& [k, a] : acc) {
    graph::Measurement m;
    m.method = std::get<2>(k);
    if (a.sketch.count() > 0) {
      m.rtt_p50_ms = a.sketch.Quantile(0.5) / 1000.0;
      m.rtt_p90_ms = std::max(m.rtt_p50_ms, a.sketch.Quantile(0.9) / 1000.0);
      m.rtt_p99_ms = std::max(m.rtt_p90_ms, a.sketch.Quantile(0.99) / 1000.0);
    }
    if (a.dns_time.count() > 0) m.dns_ms = a.dns_time.Quantile(0.5) / 1000.0;
    const uint64_t lost = a.sent - std::min(a.received, a.sent);
    m.loss = a.sent == 0 ? 0.0 : static_cast<double>(lost) / static_cast<double>(a.sent);
    m.samples = a.sketch.count();
    m.updated = a.updated;
    if (m.samples == 0) continue;  // nothing answered: leave the path missing
    if (loss_history != nullptr) {
      m.loss = loss_history->Update(out.graph.pop(std::get<0>(k)).name,
                                    out.graph.region(std::get<1>(k)).name,
                                    static_cast<int>(m.method), a.sent, lost, a.updated);
    }
    VANTAGE_RETURN_IF_ERROR(out.graph.RecordMeasurement(std::get<0>(k), std::get<1>(k), m));
    out.newest = std::max(out.newest, a.updated);
  }
  if (loss_history != nullptr) loss_history->Forget(now);
  return out;
}

std::map<std::string, double> ObservedLoads::Scaled(double total_predicted) const {
  std::map<std::string, double> out;
  for (const auto& [pop, b] : bytes) {
    out[pop] = total_bytes == 0
                   ? 0.0
                   : static_cast<double>(b) / static_cast<double>(total_bytes) * total_predicted;
  }
  return out;
}

std::optional<ObservedLoads> ObservedPopLoads(const PushModel& model,
                                              const std::map<SeriesKey, LatestSeries>& latest,
                                              absl::Time since, absl::Time now) {
  ObservedLoads out;
  std::map<std::string, absl::Time> newest;
  for (const auto& p : model.pops) {
    out.bytes[p.name] = 0;
    out.flows[p.name] = 0;
    newest[p.name] = absl::InfinitePast();
  }
  for (const auto& [key, series] : latest) {
    auto it = newest.find(key.pop);
    if (it == newest.end() || now - series.window_end > model.max_series_age) continue;
    it->second = std::max(it->second, series.window_end);
    if (key.kind != SeriesKind::kPassive || series.window_end < since) continue;
    v1::PassiveSeries s;
    if (!s.ParseFromString(series.body)) continue;
    out.bytes[key.pop] += s.bytes();
    out.flows[key.pop] += s.flows();
    out.total_bytes += s.bytes();
    out.total_flows += s.flows();
  }
  for (const auto& [pop, t] : newest) {
    // A PoP with no fresh window at all is down (load 0); one whose newest
    // window predates `since` has not reported since the push: wait.
    if (t != absl::InfinitePast() && t < since) return std::nullopt;
  }
  if (out.total_flows < model.observed_load.min_flows || out.total_bytes == 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace vantage::collector
