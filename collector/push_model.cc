#include "collector/push_model.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/yaml_config.h"
#include "yaml-cpp/yaml.h"

namespace vantage::collector {

namespace {

absl::StatusOr<IpAddress> Address(const YamlDoc& doc, const YAML::Node& node, const char* key) {
  VANTAGE_ASSIGN_OR_RETURN(std::string text, doc.String(node, key, ""));
  auto ip = IpAddress::Parse(text);
  if (!ip.ok()) return doc.Error(node[key] ? node[key] : node, absl::StrCat("bad ", key));
  return *ip;
}

absl::StatusOr<std::vector<Prefix>> Prefixes(const YamlDoc& doc, const YAML::Node& node,
                                             const char* key) {
  std::vector<Prefix> out;
  const YAML::Node list = node[key];
  if (!list) return out;
  if (!list.IsSequence()) return doc.Error(list, absl::StrCat(key, " must be a list"));
  for (const auto& item : list) {
    auto p = Prefix::Parse(item.Scalar());
    if (!item.IsScalar() || !p.ok()) return doc.Error(item, "bad prefix");
    out.push_back(*p);
  }
  return out;
}

absl::Status ParseExtras(const YamlDoc& doc, const YAML::Node& root, PushModel& m) {
  VANTAGE_ASSIGN_OR_RETURN(m.max_series_age,
                           doc.Duration(root, "max_series_age", m.max_series_age));
  if (m.max_series_age <= absl::ZeroDuration()) {
    return doc.Error(root["max_series_age"], "max_series_age must be positive");
  }
  VANTAGE_ASSIGN_OR_RETURN(m.loss_half_life,
                           doc.Duration(root, "loss_half_life", m.loss_half_life));
  if (m.loss_half_life < absl::ZeroDuration()) {
    return doc.Error(root["loss_half_life"], "loss_half_life must not be negative");
  }
  VANTAGE_ASSIGN_OR_RETURN(m.utilisation_ceiling,
                           doc.Double(root, "utilisation_ceiling", m.utilisation_ceiling, 0.01, 1));
  VANTAGE_ASSIGN_OR_RETURN(m.n1_headroom, doc.Bool(root, "n1_headroom", m.n1_headroom));
  VANTAGE_ASSIGN_OR_RETURN(m.stability_cost_ms,
                           doc.Double(root, "stability_cost_ms", m.stability_cost_ms, 0, 1e6));
  VANTAGE_ASSIGN_OR_RETURN(m.state_dir, doc.String(root, "state_dir", ""));
  if (const YAML::Node a = root["adapter"]; a) {
    VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(a, {"type", "socket", "path"}));
    VANTAGE_ASSIGN_OR_RETURN(m.adapter.type, doc.String(a, "type", ""));
    VANTAGE_ASSIGN_OR_RETURN(m.adapter.socket, doc.String(a, "socket", ""));
    VANTAGE_ASSIGN_OR_RETURN(m.adapter.path, doc.String(a, "path", ""));
    if (m.adapter.type == "exabgp") {
      if (m.adapter.socket.empty() || !m.adapter.path.empty()) {
        return doc.Error(a, "an exabgp adapter needs 'socket' (and no 'path')");
      }
    } else if (m.adapter.type == "json") {
      if (m.adapter.path.empty() || !m.adapter.socket.empty()) {
        return doc.Error(a, "a json adapter needs 'path' (and no 'socket')");
      }
    } else {
      return doc.Error(a["type"] ? a["type"] : a, "adapter type must be exabgp or json");
    }
  }
  if (const YAML::Node o = root["observed_load"]; o) {
    VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(o, {"enabled", "settle", "min_flows"}));
    ObservedLoadConfig d;
    VANTAGE_ASSIGN_OR_RETURN(m.observed_load.enabled, doc.Bool(o, "enabled", d.enabled));
    VANTAGE_ASSIGN_OR_RETURN(m.observed_load.settle, doc.Duration(o, "settle", d.settle));
    VANTAGE_ASSIGN_OR_RETURN(
        int64_t min_flows,
        doc.Int(o, "min_flows", static_cast<int64_t>(d.min_flows), 1, int64_t{1} << 40));
    m.observed_load.min_flows = static_cast<uint64_t>(min_flows);
    if (m.observed_load.settle < absl::ZeroDuration()) {
      return doc.Error(o["settle"], "settle must not be negative");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PushModel> FromNode(const YamlDoc& doc, const YAML::Node& root) {
  try {
    if (!root || !root.IsMap()) return doc.Error(root, "expected a mapping");
    VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(
        root,
        {"asn", "full_bandwidth_bytes_per_s", "period", "check_interval", "significant_change",
         "pops", "regions", "guardrails", "adapter", "max_series_age", "loss_half_life",
         "utilisation_ceiling", "n1_headroom", "stability_cost_ms", "observed_load", "state_dir"}));
    PushModel m;
    VANTAGE_RETURN_IF_ERROR(ParseExtras(doc, root, m));
    VANTAGE_ASSIGN_OR_RETURN(int64_t asn, doc.Int(root, "asn", 65000, 1, 65535));
    m.asn = static_cast<uint32_t>(asn);
    VANTAGE_ASSIGN_OR_RETURN(m.full_bandwidth_bytes_per_s,
                             doc.Double(root, "full_bandwidth_bytes_per_s", 1.25e9, 1, 3.4e38));
    VANTAGE_ASSIGN_OR_RETURN(m.period, doc.Duration(root, "period", absl::Seconds(30)));
    VANTAGE_ASSIGN_OR_RETURN(m.check_interval,
                             doc.Duration(root, "check_interval", absl::Seconds(5)));
    VANTAGE_ASSIGN_OR_RETURN(m.significant_change,
                             doc.Double(root, "significant_change", 0.1, 0, 1));
    if (m.period <= absl::ZeroDuration() || m.check_interval <= absl::ZeroDuration()) {
      return doc.Error(root, "period and check_interval must be positive");
    }
    std::set<std::string> names;
    const YAML::Node pops = root["pops"];
    if (!pops || !pops.IsSequence() || pops.size() == 0) {
      return doc.Error(pops ? pops : root, "pops: a non-empty list is required");
    }
    for (const auto& n : pops) {
      VANTAGE_RETURN_IF_ERROR(
          doc.CheckKeys(n, {"name", "capacity", "neighbor", "next_hop_v4", "next_hop_v6"}));
      PushModelPop p;
      VANTAGE_ASSIGN_OR_RETURN(p.name, doc.String(n, "name", ""));
      if (p.name.empty() || !names.insert(p.name).second) {
        return doc.Error(n, "pop name missing or duplicate");
      }
      VANTAGE_ASSIGN_OR_RETURN(p.capacity, doc.Double(n, "capacity", -1, 0, 1e18));
      if (p.capacity < 0) return doc.Error(n, "capacity is required");
      VANTAGE_ASSIGN_OR_RETURN(p.neighbor, Address(doc, n, "neighbor"));
      if (n["next_hop_v4"]) {
        VANTAGE_ASSIGN_OR_RETURN(IpAddress nh, Address(doc, n, "next_hop_v4"));
        if (!nh.is_v4()) return doc.Error(n["next_hop_v4"], "not an IPv4 address");
        p.next_hop_v4 = nh;
      }
      if (n["next_hop_v6"]) {
        VANTAGE_ASSIGN_OR_RETURN(IpAddress nh, Address(doc, n, "next_hop_v6"));
        if (!nh.is_v6()) return doc.Error(n["next_hop_v6"], "not an IPv6 address");
        p.next_hop_v6 = nh;
      }
      m.pops.push_back(std::move(p));
    }
    names.clear();
    std::set<std::string> services;
    const YAML::Node regions = root["regions"];
    if (!regions || !regions.IsSequence() || regions.size() == 0) {
      return doc.Error(regions ? regions : root, "regions: a non-empty list is required");
    }
    for (const auto& n : regions) {
      VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(n, {"name", "demand", "prefixes", "service_prefixes"}));
      PushModelRegion r;
      VANTAGE_ASSIGN_OR_RETURN(r.name, doc.String(n, "name", ""));
      if (r.name.empty() || !names.insert(r.name).second) {
        return doc.Error(n, "region name missing or duplicate");
      }
      VANTAGE_ASSIGN_OR_RETURN(r.demand, doc.Double(n, "demand", 0, 0, 1e18));
      VANTAGE_ASSIGN_OR_RETURN(r.prefixes, Prefixes(doc, n, "prefixes"));
      VANTAGE_ASSIGN_OR_RETURN(r.service_prefixes, Prefixes(doc, n, "service_prefixes"));
      for (const auto& s : r.service_prefixes) {
        if (!services.insert(s.ToString()).second) {
          return doc.Error(n, absl::StrCat("service prefix ", s.ToString(), " used twice"));
        }
      }
      m.regions.push_back(std::move(r));
    }
    const YAML::Node g = root["guardrails"];
    if (!g) return m;  // defaults
    VANTAGE_RETURN_IF_ERROR(
        doc.CheckKeys(g, {"dry_run", "max_weight_shift", "min_interval", "max_telemetry_age",
                          "rollback_margin", "rollback_hold", "freeze_file"}));
    push::GuardrailConfig d;
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.dry_run, doc.Bool(g, "dry_run", d.dry_run));
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.max_weight_shift,
                             doc.Double(g, "max_weight_shift", d.max_weight_shift, 1e-6, 1));
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.min_interval,
                             doc.Duration(g, "min_interval", d.min_interval));
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.max_telemetry_age,
                             doc.Duration(g, "max_telemetry_age", d.max_telemetry_age));
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.rollback_margin,
                             doc.Double(g, "rollback_margin", d.rollback_margin, 1e-6, 1e6));
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.rollback_hold,
                             doc.Duration(g, "rollback_hold", d.rollback_hold));
    VANTAGE_ASSIGN_OR_RETURN(m.guardrails.freeze_file, doc.String(g, "freeze_file", ""));
    if (auto st = push::ValidateGuardrailConfig(m.guardrails); !st.ok()) {
      return doc.Error(g ? g : root, st.message());
    }
    return m;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(doc.name(), ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

}  // namespace

absl::StatusOr<PushModel> ParsePushModel(const std::string& text, const std::string& name) {
  VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Parse(text, name));
  return FromNode(doc, doc.root());
}

absl::StatusOr<PushModel> LoadPushModel(const std::string& path) {
  VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Load(path));
  return FromNode(doc, doc.root());
}

absl::StatusOr<PushModel> PushModelFromNode(const YamlDoc& doc, const YAML::Node& node) {
  return FromNode(doc, node);
}

optimizer::OptimizerConfig OptimizerConfigFor(const PushModel& model) {
  optimizer::OptimizerConfig c;
  c.utilisation_ceiling = model.utilisation_ceiling;
  c.n1_headroom = model.n1_headroom;
  c.stability_cost_ms = model.stability_cost_ms;
  return c;
}

absl::StatusOr<graph::AnycastGraph> GraphSkeleton(const PushModel& model) {
  graph::AnycastGraph g;
  for (const auto& p : model.pops) {
    graph::Pop pop;
    pop.name = p.name;
    pop.capacity = p.capacity;
    VANTAGE_RETURN_IF_ERROR(g.AddPop(std::move(pop)).status());
  }
  for (const auto& r : model.regions) {
    graph::Region region;
    region.name = r.name;
    region.prefixes = r.prefixes;
    region.demand = r.demand;
    VANTAGE_RETURN_IF_ERROR(g.AddRegion(std::move(region)).status());
  }
  return g;
}

absl::StatusOr<push::IntendedState> IntendedStateFor(const PushModel& model,
                                                     const graph::AnycastGraph& graph,
                                                     const optimizer::OptimizationResult& result) {
  push::IntendedState s;
  s.asn = model.asn;
  s.full_bandwidth_bytes_per_s = model.full_bandwidth_bytes_per_s;
  std::map<std::string, const PushModelPop*> pops;
  for (const auto& p : model.pops) pops[p.name] = &p;
  for (const auto& r : model.regions) {
    auto rid = graph.FindRegion(r.name);
    if (!rid.has_value() || *rid >= static_cast<int>(result.regions.size())) {
      return absl::FailedPreconditionError(absl::StrCat("region ", r.name, " not in the result"));
    }
    const auto& plan = result.regions[static_cast<size_t>(*rid)];
    for (const auto& service : r.service_prefixes) {
      const bool v6 = service.family() == AddressFamily::kIPv6;
      push::PrefixIntent intent;
      intent.region = r.name;
      intent.prefix = service;
      double sum = 0;
      for (const auto& p : model.pops) {
        const auto& nh = v6 ? p.next_hop_v6 : p.next_hop_v4;
        if (!nh.has_value()) continue;
        double w = 0;
        for (const auto& share : plan.weights) {
          if (graph.pop(share.pop).name == p.name) w = share.weight;
        }
        sum += w;
        intent.routes.push_back({p.name, p.neighbor, *nh, w});
      }
      if (sum <= 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "region ", r.name, ": its weighted PoPs have no next hop for ", service.ToString()));
      }
      for (auto& route : intent.routes) route.weight /= sum;
      s.prefixes.push_back(std::move(intent));
    }
  }
  push::Canonicalize(s);
  return s;
}

absl::Status SetCurrentWeights(const PushModel& model, const push::IntendedState& state,
                               graph::AnycastGraph& graph) {
  for (const auto& r : model.regions) {
    if (r.service_prefixes.empty()) continue;
    auto rid = graph.FindRegion(r.name);
    if (!rid.has_value()) continue;
    for (const auto& p : state.prefixes) {
      if (p.prefix != r.service_prefixes.front()) continue;
      std::vector<graph::PopWeight> weights;
      double sum = 0;
      for (const auto& route : p.routes) {
        auto pid = graph.FindPop(route.pop);
        if (!pid.has_value() || route.weight <= 0) continue;
        weights.push_back({*pid, route.weight});
        sum += route.weight;
      }
      if (sum <= 0) continue;
      for (auto& w : weights) w.weight /= sum;
      VANTAGE_RETURN_IF_ERROR(graph.SetCurrentWeights(*rid, std::move(weights)));
    }
  }
  return absl::OkStatus();
}

}  // namespace vantage::collector
