#include "graph/snapshot_json.h"

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace vantage::graph {

namespace {

using nlohmann::json;

absl::Status Bad(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("snapshot: ", where, ": ", what));
}

absl::Status CheckKeys(const json& obj, absl::string_view where,
                       std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) return Bad(where, "must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (const char* k : allowed) ok = ok || it.key() == k;
    if (!ok) return Bad(where, absl::StrCat("unknown key '", it.key(), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<double> GetNumber(const json& obj, const char* key, absl::string_view where,
                                 std::optional<double> fallback = std::nullopt) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (fallback.has_value()) return *fallback;
    return Bad(where, absl::StrCat("missing '", key, "'"));
  }
  if (!it->is_number()) return Bad(where, absl::StrCat("'", key, "' must be a number"));
  const double v = it->get<double>();
  if (!std::isfinite(v)) return Bad(where, absl::StrCat("'", key, "' must be finite"));
  return v;
}

absl::StatusOr<int64_t> GetInt(const json& obj, const char* key, absl::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(where, absl::StrCat("missing '", key, "'"));
  if (!it->is_number_integer()) return Bad(where, absl::StrCat("'", key, "' must be an integer"));
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return Bad(where, absl::StrCat("'", key, "' is too large"));
  }
  return it->get<int64_t>();
}

absl::StatusOr<std::string> GetString(const json& obj, const char* key, absl::string_view where,
                                      bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (!required) return std::string();
    return Bad(where, absl::StrCat("missing '", key, "'"));
  }
  if (!it->is_string()) return Bad(where, absl::StrCat("'", key, "' must be a string"));
  return it->get<std::string>();
}

json MeasurementToJson(const Measurement& m) {
  json j = json::object();
  j["method"] = std::string(MethodName(m.method));
  j["rtt_p50_ms"] = m.rtt_p50_ms;
  j["rtt_p90_ms"] = m.rtt_p90_ms;
  j["rtt_p99_ms"] = m.rtt_p99_ms;
  j["loss"] = m.loss;
  if (m.dns_ms.has_value()) j["dns_ms"] = *m.dns_ms;
  j["samples"] = m.samples;
  j["updated_unix_ns"] = absl::ToUnixNanos(m.updated);
  return j;
}

absl::Status ParseImpl(const json& root, AnycastGraph& g) {
  VANTAGE_RETURN_IF_ERROR(
      CheckKeys(root, "top level",
                {"format", "snapshot_time_unix_ns", "freshness", "pops", "regions", "paths"}));
  VANTAGE_ASSIGN_OR_RETURN(std::string format, GetString(root, "format", "top level"));
  if (format != kSnapshotFormat) {
    return Bad("top level",
               absl::StrCat("format is '", format, "', expected '", kSnapshotFormat, "'"));
  }
  VANTAGE_ASSIGN_OR_RETURN(int64_t t, GetInt(root, "snapshot_time_unix_ns", "top level"));
  g.set_snapshot_time(absl::FromUnixNanos(t));
  if (auto it = root.find("freshness"); it != root.end()) {
    VANTAGE_RETURN_IF_ERROR(CheckKeys(*it, "freshness", {"half_life_s", "expiry_s"}));
    FreshnessPolicy f;
    VANTAGE_ASSIGN_OR_RETURN(double half, GetNumber(*it, "half_life_s", "freshness"));
    VANTAGE_ASSIGN_OR_RETURN(double expiry, GetNumber(*it, "expiry_s", "freshness"));
    if (half < 1e-3 || expiry < 1e-3 || half > 1e9 || expiry > 1e9) {
      return Bad("freshness", "half_life_s and expiry_s must be in [0.001, 1e9]");
    }
    f.half_life = absl::Seconds(half);
    f.expiry = absl::Seconds(expiry);
    g.set_freshness(f);
  }
  auto array_of = [&](const char* key) -> absl::StatusOr<const json*> {
    auto it = root.find(key);
    if (it == root.end()) return Bad("top level", absl::StrCat("missing '", key, "'"));
    if (!it->is_array()) return Bad("top level", absl::StrCat("'", key, "' must be an array"));
    return &*it;
  };

  VANTAGE_ASSIGN_OR_RETURN(const json* pops, array_of("pops"));
  for (size_t i = 0; i < pops->size(); ++i) {
    const json& jp = (*pops)[i];
    const std::string where = absl::StrCat("pops[", i, "]");
    VANTAGE_RETURN_IF_ERROR(
        CheckKeys(jp, where, {"name", "capacity", "healthy", "load", "latitude", "longitude"}));
    Pop p;
    VANTAGE_ASSIGN_OR_RETURN(p.name, GetString(jp, "name", where));
    VANTAGE_ASSIGN_OR_RETURN(p.capacity, GetNumber(jp, "capacity", where));
    VANTAGE_ASSIGN_OR_RETURN(p.load, GetNumber(jp, "load", where, 0.0));
    VANTAGE_ASSIGN_OR_RETURN(p.latitude, GetNumber(jp, "latitude", where, 0.0));
    VANTAGE_ASSIGN_OR_RETURN(p.longitude, GetNumber(jp, "longitude", where, 0.0));
    if (auto h = jp.find("healthy"); h != jp.end()) {
      if (!h->is_boolean()) return Bad(where, "'healthy' must be true or false");
      p.healthy = h->get<bool>();
    }
    auto added = g.AddPop(std::move(p));
    if (!added.ok()) return Bad(where, added.status().message());
  }

  VANTAGE_ASSIGN_OR_RETURN(const json* regions, array_of("regions"));
  for (size_t i = 0; i < regions->size(); ++i) {
    const json& jr = (*regions)[i];
    const std::string where = absl::StrCat("regions[", i, "]");
    VANTAGE_RETURN_IF_ERROR(CheckKeys(
        jr, where, {"name", "demand", "prefixes", "current_weights", "latitude", "longitude"}));
    Region r;
    VANTAGE_ASSIGN_OR_RETURN(r.name, GetString(jr, "name", where));
    VANTAGE_ASSIGN_OR_RETURN(r.demand, GetNumber(jr, "demand", where));
    VANTAGE_ASSIGN_OR_RETURN(r.latitude, GetNumber(jr, "latitude", where, 0.0));
    VANTAGE_ASSIGN_OR_RETURN(r.longitude, GetNumber(jr, "longitude", where, 0.0));
    if (auto ps = jr.find("prefixes"); ps != jr.end()) {
      if (!ps->is_array()) return Bad(where, "'prefixes' must be an array");
      for (const json& jp : *ps) {
        if (!jp.is_string()) return Bad(where, "prefixes must be strings");
        auto prefix = Prefix::Parse(jp.get<std::string>());
        if (!prefix.ok()) return Bad(where, prefix.status().message());
        r.prefixes.push_back(*prefix);
      }
    }
    if (auto ws = jr.find("current_weights"); ws != jr.end()) {
      if (!ws->is_object()) return Bad(where, "'current_weights' must be an object");
      for (auto it = ws->begin(); it != ws->end(); ++it) {
        std::optional<PopId> pop = g.FindPop(it.key());
        if (!pop.has_value())
          return Bad(where, absl::StrCat("weight on unknown PoP '", it.key(), "'"));
        if (!it->is_number()) return Bad(where, "weights must be numbers");
        r.current_weights.push_back({*pop, it->get<double>()});
      }
    }
    auto added = g.AddRegion(std::move(r));
    if (!added.ok()) return Bad(where, added.status().message());
  }

  VANTAGE_ASSIGN_OR_RETURN(const json* paths, array_of("paths"));
  for (size_t i = 0; i < paths->size(); ++i) {
    const json& jp = (*paths)[i];
    const std::string where = absl::StrCat("paths[", i, "]");
    VANTAGE_RETURN_IF_ERROR(CheckKeys(jp, where, {"pop", "region", "catchment", "measurements"}));
    VANTAGE_ASSIGN_OR_RETURN(std::string pop_name, GetString(jp, "pop", where));
    VANTAGE_ASSIGN_OR_RETURN(std::string region_name, GetString(jp, "region", where));
    VANTAGE_ASSIGN_OR_RETURN(std::string catchment, GetString(jp, "catchment", where, false));
    std::optional<PopId> pop = g.FindPop(pop_name);
    std::optional<RegionId> region = g.FindRegion(region_name);
    if (!pop.has_value()) return Bad(where, absl::StrCat("unknown PoP '", pop_name, "'"));
    if (!region.has_value()) return Bad(where, absl::StrCat("unknown region '", region_name, "'"));
    if (g.FindPath(*pop, *region) != nullptr) return Bad(where, "path listed twice");
    auto ms = jp.find("measurements");
    if (ms == jp.end() || !ms->is_array() || ms->empty()) {
      return Bad(where, "'measurements' must be a non-empty array (omit a missing path)");
    }
    for (size_t k = 0; k < ms->size(); ++k) {
      const json& jm = (*ms)[k];
      const std::string mwhere = absl::StrCat(where, ".measurements[", k, "]");
      VANTAGE_RETURN_IF_ERROR(CheckKeys(jm, mwhere,
                                        {"method", "rtt_p50_ms", "rtt_p90_ms", "rtt_p99_ms", "loss",
                                         "dns_ms", "samples", "updated_unix_ns"}));
      Measurement m;
      VANTAGE_ASSIGN_OR_RETURN(std::string method, GetString(jm, "method", mwhere));
      auto parsed = ParseMethod(method);
      if (!parsed.ok()) return Bad(mwhere, parsed.status().message());
      m.method = *parsed;
      if (const Path* existing = g.FindPath(*pop, *region); existing != nullptr) {
        for (const Measurement& seen : existing->measurements) {
          if (seen.method == m.method) return Bad(mwhere, "method listed twice");
        }
      }
      VANTAGE_ASSIGN_OR_RETURN(m.rtt_p50_ms, GetNumber(jm, "rtt_p50_ms", mwhere));
      VANTAGE_ASSIGN_OR_RETURN(m.rtt_p90_ms, GetNumber(jm, "rtt_p90_ms", mwhere));
      VANTAGE_ASSIGN_OR_RETURN(m.rtt_p99_ms, GetNumber(jm, "rtt_p99_ms", mwhere));
      VANTAGE_ASSIGN_OR_RETURN(m.loss, GetNumber(jm, "loss", mwhere, 0.0));
      if (jm.contains("dns_ms")) {
        VANTAGE_ASSIGN_OR_RETURN(double dns, GetNumber(jm, "dns_ms", mwhere));
        m.dns_ms = dns;
      }
      auto samples = jm.find("samples");
      if (samples == jm.end() || !samples->is_number_unsigned()) {
        // nlohmann marks non-negative integers unsigned.
        return Bad(mwhere, "'samples' must be a non-negative integer");
      }
      m.samples = samples->get<uint64_t>();
      VANTAGE_ASSIGN_OR_RETURN(int64_t updated, GetInt(jm, "updated_unix_ns", mwhere));
      m.updated = absl::FromUnixNanos(updated);
      if (absl::Status s = g.RecordMeasurement(*pop, *region, m); !s.ok()) {
        return Bad(mwhere, s.message());
      }
    }
    if (!catchment.empty()) VANTAGE_RETURN_IF_ERROR(g.SetCatchment(*pop, *region, catchment));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SnapshotToJson(const AnycastGraph& graph, int indent) {
  json root = json::object();
  root["format"] = std::string(kSnapshotFormat);
  root["snapshot_time_unix_ns"] = absl::ToUnixNanos(graph.snapshot_time());
  root["freshness"] = {
      {"half_life_s", absl::ToDoubleSeconds(graph.freshness().half_life)},
      {"expiry_s", absl::ToDoubleSeconds(graph.freshness().expiry)},
  };
  json pops = json::array();
  for (PopId p = 0; p < graph.pop_count(); ++p) {
    const Pop& pop = graph.pop(p);
    pops.push_back({{"name", pop.name},
                    {"capacity", pop.capacity},
                    {"healthy", pop.healthy},
                    {"load", pop.load},
                    {"latitude", pop.latitude},
                    {"longitude", pop.longitude}});
  }
  root["pops"] = std::move(pops);
  json regions = json::array();
  for (RegionId r = 0; r < graph.region_count(); ++r) {
    const Region& region = graph.region(r);
    json jr = json::object();
    jr["name"] = region.name;
    jr["demand"] = region.demand;
    json prefixes = json::array();
    for (const Prefix& p : region.prefixes) prefixes.push_back(p.ToString());
    jr["prefixes"] = std::move(prefixes);
    if (!region.current_weights.empty()) {
      json weights = json::object();
      for (const PopWeight& w : region.current_weights) weights[graph.pop(w.pop).name] = w.weight;
      jr["current_weights"] = std::move(weights);
    }
    jr["latitude"] = region.latitude;
    jr["longitude"] = region.longitude;
    regions.push_back(std::move(jr));
  }
  root["regions"] = std::move(regions);
  json paths = json::array();
  for (const Path* path : graph.AllPaths()) {
    json jp = json::object();
    jp["pop"] = graph.pop(path->pop).name;
    jp["region"] = graph.region(path->region).name;
    if (!path->catchment.empty()) jp["catchment"] = path->catchment;
    json ms = json::array();
    for (const Measurement& m : path->measurements) ms.push_back(MeasurementToJson(m));
    jp["measurements"] = std::move(ms);
    paths.push_back(std::move(jp));
  }
  root["paths"] = std::move(paths);
  return root.dump(indent) + "\n";
}

absl::StatusOr<AnycastGraph> SnapshotFromJson(absl::string_view text) {
  try {
    json root = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) return absl::InvalidArgumentError("snapshot: not valid JSON");
    AnycastGraph g;
    VANTAGE_RETURN_IF_ERROR(ParseImpl(root, g));
    return g;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot: ", e.what()));
  }
}

absl::StatusOr<AnycastGraph> ReadSnapshotFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open '", path, "'"));
  std::ostringstream buf;
  buf << in.rdbuf();
  auto g = SnapshotFromJson(buf.str());
  if (!g.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", g.status().message()));
  return g;
}

absl::Status WriteSnapshotFile(const AnycastGraph& graph, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write '", path, "'"));
  out << SnapshotToJson(graph);
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("write to '", path, "' failed"));
  return absl::OkStatus();
}

}  // namespace vantage::graph
