#include "probe/probe_config.h"

#include <algorithm>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/yaml_config.h"

namespace vantage::probe {
namespace {

bool SameTargets(const std::vector<ActiveTargetConfig>& a,
                 const std::vector<ActiveTargetConfig>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i].address == b[i].address) || a[i].methods != b[i].methods ||
        a[i].interval != b[i].interval) {
      return false;
    }
  }
  return true;
}

// A sequence of scalars at node[key] (absent: empty).
absl::StatusOr<std::vector<std::pair<std::string, YAML::Node>>> Strings(const YamlDoc& doc,
                                                                        const YAML::Node& node,
                                                                        const char* key) {
  std::vector<std::pair<std::string, YAML::Node>> out;
  const YAML::Node list = node[key];
  if (!list || list.IsNull()) return out;
  if (!list.IsSequence()) return doc.Error(list, absl::StrCat("'", key, "' must be a list"));
  for (const YAML::Node& item : list) {
    if (!item.IsScalar())
      return doc.Error(item, absl::StrCat("'", key, "' entries must be scalars"));
    out.emplace_back(item.Scalar(), item);
  }
  return out;
}

// The mapping at root[key], or an empty one when the section is absent or
// null (yaml-cpp throws on lookups in a missing node).
YAML::Node Section(const YAML::Node& root, const char* key) {
  YAML::Node n = root[key];
  if (n.IsDefined() && !n.IsNull()) return n;
  return YAML::Node(YAML::NodeType::Map);
}

absl::Status ParseIdentity(const YamlDoc& doc, const YAML::Node& root, ProbeConfig& c) {
  const YAML::Node n = Section(root, "identity");
  VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(n, {"probe_id", "pop"}));
  VANTAGE_ASSIGN_OR_RETURN(c.probe_id, doc.String(n, "probe_id", c.probe_id));
  VANTAGE_ASSIGN_OR_RETURN(c.pop, doc.String(n, "pop", c.pop));
  if (c.probe_id.empty()) return doc.Error(n["probe_id"], "probe_id must not be empty");
  if (c.pop.empty()) return doc.Error(n["pop"], "pop must not be empty");
  return absl::OkStatus();
}

absl::Status ParseCollector(const YamlDoc& doc, const YAML::Node& root, ProbeConfig& c) {
  const YAML::Node n = Section(root, "collector");
  VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(n, {"target", "ca", "cert", "key", "server_name"}));
  ExporterOptions& o = c.collector;
  VANTAGE_ASSIGN_OR_RETURN(o.target, doc.String(n, "target", o.target));
  if (auto ep = Endpoint::Parse(o.target); !ep.ok() || ep->port() == 0) {
    return doc.Error(n["target"], "target must be address:port");
  }
  VANTAGE_ASSIGN_OR_RETURN(o.ca_file, doc.String(n, "ca", "/etc/vantage/certs/ca.crt"));
  VANTAGE_ASSIGN_OR_RETURN(o.cert_file, doc.String(n, "cert", "/etc/vantage/certs/probe.crt"));
  VANTAGE_ASSIGN_OR_RETURN(o.key_file, doc.String(n, "key", "/etc/vantage/certs/probe.key"));
  VANTAGE_ASSIGN_OR_RETURN(o.server_name, doc.String(n, "server_name", ""));
  return absl::OkStatus();
}

absl::Status ParseSpool(const YamlDoc& doc, const YAML::Node& root, ProbeConfig& c) {
  const YAML::Node n = Section(root, "spool");
  VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(n, {"dir", "max_bytes"}));
  VANTAGE_ASSIGN_OR_RETURN(c.spool_dir, doc.String(n, "dir", c.spool_dir));
  if (c.spool_dir.empty()) return doc.Error(n["dir"], "dir must not be empty");
  VANTAGE_ASSIGN_OR_RETURN(int64_t max_bytes,
                           doc.Int(n, "max_bytes", static_cast<int64_t>(c.spool_max_bytes),
                                   int64_t{1} << 16, std::numeric_limits<int64_t>::max()));
  c.spool_max_bytes = static_cast<uint64_t>(max_bytes);
  return absl::OkStatus();
}

absl::Status ParseActive(const YamlDoc& doc, const YAML::Node& root, ActiveConfig& a) {
  const YAML::Node n = Section(root, "active");
  VANTAGE_RETURN_IF_ERROR(
      doc.CheckKeys(n, {"targets", "interval", "count", "flows", "rate", "timeout", "interface"}));
  VANTAGE_ASSIGN_OR_RETURN(a.interval, doc.Duration(n, "interval", a.interval));
  if (a.interval < absl::Milliseconds(1)) return doc.Error(n["interval"], "interval below 1ms");
  VANTAGE_ASSIGN_OR_RETURN(int64_t count, doc.Int(n, "count", a.count, 1, 1000));
  a.count = static_cast<int>(count);
  VANTAGE_ASSIGN_OR_RETURN(int64_t flows, doc.Int(n, "flows", a.flows, 1, 16));
  a.flows = static_cast<int>(flows);
  VANTAGE_ASSIGN_OR_RETURN(a.rate, doc.Double(n, "rate", a.rate, 1, 10'000'000));
  VANTAGE_ASSIGN_OR_RETURN(a.timeout, doc.Duration(n, "timeout", a.timeout));
  if (a.timeout <= absl::ZeroDuration() || a.timeout > absl::Seconds(60)) {
    return doc.Error(n["timeout"], "timeout must be in (0, 60s]");
  }
  VANTAGE_ASSIGN_OR_RETURN(a.interface, doc.String(n, "interface", ""));
  const YAML::Node targets = n["targets"];
  if (!targets || targets.IsNull()) return absl::OkStatus();
  if (!targets.IsSequence()) {
    return doc.Error(targets, "targets must be a list of {address, methods, interval}");
  }
  for (const YAML::Node& t : targets) {
    if (!t.IsMap()) return doc.Error(t, "a target must be a mapping {address, methods, interval}");
    VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(t, {"address", "methods", "interval"}));
    ActiveTargetConfig target;
    VANTAGE_ASSIGN_OR_RETURN(std::string address, doc.String(t, "address", ""));
    auto ip = IpAddress::Parse(address);
    if (!ip.ok()) {
      return doc.Error(t["address"] ? t["address"] : t, "address must be an IPv4/IPv6 address");
    }
    target.address = *ip;
    VANTAGE_ASSIGN_OR_RETURN(auto methods, Strings(doc, t, "methods"));
    if (methods.empty()) target.methods.push_back(ProbeMethodSpec{});
    for (const auto& [text, node] : methods) {
      auto spec = ProbeMethodSpec::Parse(text);
      if (!spec.ok()) return doc.Error(node, spec.status().message());
      target.methods.push_back(*spec);
    }
    if (t["interval"]) {
      VANTAGE_ASSIGN_OR_RETURN(absl::Duration interval, doc.Duration(t, "interval", a.interval));
      if (interval < absl::Milliseconds(1)) return doc.Error(t["interval"], "interval below 1ms");
      target.interval = interval;
    }
    a.targets.push_back(std::move(target));
  }
  return absl::OkStatus();
}

absl::Status ParsePassive(const YamlDoc& doc, const YAML::Node& root, PassiveConfig& p) {
  const YAML::Node n = Section(root, "passive");
  VANTAGE_RETURN_IF_ERROR(
      doc.CheckKeys(n, {"interface", "local_prefixes", "local_ports", "prefix_length_v4",
                        "prefix_length_v6", "anonymization_key_file"}));
  VANTAGE_ASSIGN_OR_RETURN(p.interface, doc.String(n, "interface", ""));
  VANTAGE_ASSIGN_OR_RETURN(auto prefixes, Strings(doc, n, "local_prefixes"));
  for (const auto& [text, node] : prefixes) {
    auto prefix = Prefix::Parse(text);
    if (!prefix.ok()) return doc.Error(node, prefix.status().message());
    p.local_prefixes.push_back(*prefix);
  }
  VANTAGE_ASSIGN_OR_RETURN(auto ports, Strings(doc, n, "local_ports"));
  for (const auto& [text, node] : ports) {
    int port = 0;
    if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
      return doc.Error(node, "a port must be 1..65535");
    }
    p.local_ports.push_back(static_cast<uint16_t>(port));
  }
  VANTAGE_ASSIGN_OR_RETURN(int64_t v4, doc.Int(n, "prefix_length_v4", p.prefix_length_v4, 0, 24));
  VANTAGE_ASSIGN_OR_RETURN(int64_t v6, doc.Int(n, "prefix_length_v6", p.prefix_length_v6, 0, 48));
  p.prefix_length_v4 = static_cast<int>(v4);
  p.prefix_length_v6 = static_cast<int>(v6);
  VANTAGE_ASSIGN_OR_RETURN(p.anonymization_key_file, doc.String(n, "anonymization_key_file", ""));
  return absl::OkStatus();
}

absl::Status ParseDns(const YamlDoc& doc, const YAML::Node& root, resolver::DnsProbeConfig& d) {
  const YAML::Node n = Section(root, "dns");
  VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(
      n, {"servers", "names", "types", "interval", "jitter", "timeout", "nsid", "chaos"}));
  VANTAGE_ASSIGN_OR_RETURN(auto servers, Strings(doc, n, "servers"));
  for (const auto& [text, node] : servers) {
    auto ep = Endpoint::Parse(text, 53);
    if (!ep.ok()) return doc.Error(node, ep.status().message());
    d.servers.push_back(*ep);
  }
  VANTAGE_ASSIGN_OR_RETURN(auto names, Strings(doc, n, "names"));
  for (const auto& [text, node] : names) d.names.push_back(text);
  VANTAGE_ASSIGN_OR_RETURN(auto types, Strings(doc, n, "types"));
  if (!types.empty()) d.types.clear();
  for (const auto& [text, node] : types) {
    auto type = resolver::ParseDnsType(text);
    if (!type.ok()) return doc.Error(node, type.status().message());
    d.types.push_back(*type);
  }
  VANTAGE_ASSIGN_OR_RETURN(d.interval, doc.Duration(n, "interval", d.interval));
  VANTAGE_ASSIGN_OR_RETURN(d.jitter, doc.Duration(n, "jitter", d.interval / 10));
  VANTAGE_ASSIGN_OR_RETURN(d.timeout, doc.Duration(n, "timeout", d.timeout));
  VANTAGE_ASSIGN_OR_RETURN(d.nsid, doc.Bool(n, "nsid", d.nsid));
  VANTAGE_ASSIGN_OR_RETURN(d.chaos, doc.Bool(n, "chaos", d.chaos));
  // The probe closes windows itself; the scheduler's own window is unused.
  d.window = std::max(absl::Hours(1), d.interval);
  if (d.servers.empty() && d.names.empty()) return absl::OkStatus();
  if (d.servers.empty()) return doc.Error(n, "dns: names given but no servers");
  if (d.names.empty()) return doc.Error(n, "dns: servers given but no names");
  if (absl::Status s = d.Validate(); !s.ok()) return doc.Error(n, s.message());
  return absl::OkStatus();
}

absl::Status ParseStamp(const YamlDoc& doc, const YAML::Node& root, StampReflectorConfig& s) {
  const YAML::Node n = Section(root, "stamp_reflector");
  VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(n, {"enabled", "address", "port"}));
  VANTAGE_ASSIGN_OR_RETURN(s.enabled, doc.Bool(n, "enabled", s.enabled));
  VANTAGE_ASSIGN_OR_RETURN(std::string address, doc.String(n, "address", ""));
  if (!address.empty()) {
    auto ip = IpAddress::Parse(address);
    if (!ip.ok()) return doc.Error(n["address"], "address must be an IPv4/IPv6 address");
    s.address = *ip;
  }
  VANTAGE_ASSIGN_OR_RETURN(int64_t port, doc.Int(n, "port", s.port, 0, 65535));
  s.port = static_cast<uint16_t>(port);
  return absl::OkStatus();
}

absl::StatusOr<ProbeConfig> FromDoc(const YamlDoc& doc) {
  ProbeConfig c;
  const YAML::Node& root = doc.root();
  if (root && !root.IsNull() && !root.IsMap()) {
    return doc.Error(root, "expected a mapping at the top level");
  }
  VANTAGE_RETURN_IF_ERROR(
      doc.CheckKeys(root, {"identity", "user", "collector", "spool", "window", "metrics_listen",
                           "active", "passive", "dns", "stamp_reflector"}));
  VANTAGE_RETURN_IF_ERROR(ParseIdentity(doc, root, c));
  VANTAGE_ASSIGN_OR_RETURN(c.user, doc.String(root, "user", ""));
  VANTAGE_RETURN_IF_ERROR(ParseCollector(doc, root, c));
  VANTAGE_RETURN_IF_ERROR(ParseSpool(doc, root, c));
  VANTAGE_ASSIGN_OR_RETURN(c.window, doc.Duration(root, "window", c.window));
  // The collector accepts windows of 1 s to 1 h.
  if (c.window < absl::Seconds(1) || c.window > absl::Hours(1)) {
    return doc.Error(root["window"], "window must be between 1s and 1h");
  }
  VANTAGE_ASSIGN_OR_RETURN(c.metrics_listen, doc.String(root, "metrics_listen", c.metrics_listen));
  if (!c.metrics_listen.empty() && !Endpoint::Parse(c.metrics_listen).ok()) {
    return doc.Error(root["metrics_listen"], "metrics_listen must be address:port");
  }
  VANTAGE_RETURN_IF_ERROR(ParseActive(doc, root, c.active));
  VANTAGE_RETURN_IF_ERROR(ParsePassive(doc, root, c.passive));
  VANTAGE_RETURN_IF_ERROR(ParseDns(doc, root, c.dns));
  VANTAGE_RETURN_IF_ERROR(ParseStamp(doc, root, c.stamp_reflector));
  return c;
}

}  // namespace

bool operator==(const ActiveConfig& a, const ActiveConfig& b) {
  return SameTargets(a.targets, b.targets) && a.interval == b.interval && a.count == b.count &&
         a.flows == b.flows && a.rate == b.rate && a.timeout == b.timeout &&
         a.interface == b.interface;
}

absl::StatusOr<ProbeConfig> ProbeConfig::Load(const std::string& path) {
  VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Load(path));
  return FromDoc(doc);
}

absl::StatusOr<ProbeConfig> ProbeConfig::Parse(const std::string& yaml, const std::string& name) {
  VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Parse(yaml, name));
  return FromDoc(doc);
}

}  // namespace vantage::probe
