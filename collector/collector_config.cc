#include "collector/collector_config.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/yaml_config.h"

namespace vantage::collector {
namespace {

absl::StatusOr<CollectorConfig> FromDoc(const YamlDoc& doc) {
  CollectorConfig c;
  const YAML::Node& root = doc.root();
  if (!root || !root.IsMap()) return doc.Error(root, "expected a mapping at the top level");
  VANTAGE_RETURN_IF_ERROR(
      doc.CheckKeys(root, {"listen", "metrics_listen", "database", "retention", "max_message_bytes",
                           "tls", "probes", "operators", "control"}));
  VANTAGE_ASSIGN_OR_RETURN(std::string listen, doc.String(root, "listen", c.listen.ToString()));
  auto ep = Endpoint::Parse(listen);
  if (!ep.ok()) return doc.Error(root["listen"], ep.status().message());
  c.listen = *ep;
  VANTAGE_ASSIGN_OR_RETURN(c.metrics_listen, doc.String(root, "metrics_listen", c.metrics_listen));
  if (!c.metrics_listen.empty()) {
    if (auto m = Endpoint::Parse(c.metrics_listen); !m.ok()) {
      return doc.Error(root["metrics_listen"], m.status().message());
    }
  }
  VANTAGE_ASSIGN_OR_RETURN(c.database, doc.String(root, "database", c.database));
  VANTAGE_ASSIGN_OR_RETURN(c.limits.retention, doc.Duration(root, "retention", c.limits.retention));
  VANTAGE_ASSIGN_OR_RETURN(int64_t max_message, doc.Int(root, "max_message_bytes",
                                                        c.max_message_bytes, 1 << 16, 1 << 30));
  c.max_message_bytes = static_cast<int>(max_message);

  const YAML::Node tls = root["tls"];
  if (!tls) return doc.Error(root, "missing 'tls' (cert, key, client_ca): probes must use mTLS");
  VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(tls, {"cert", "key", "client_ca"}));
  VANTAGE_ASSIGN_OR_RETURN(c.tls.cert, doc.String(tls, "cert", ""));
  VANTAGE_ASSIGN_OR_RETURN(c.tls.key, doc.String(tls, "key", ""));
  VANTAGE_ASSIGN_OR_RETURN(c.tls.ca, doc.String(tls, "client_ca", ""));
  if (c.tls.cert.empty() || c.tls.key.empty() || c.tls.ca.empty()) {
    return doc.Error(tls, "tls needs cert, key and client_ca");
  }

  const YAML::Node probes = root["probes"];
  if (!probes || !probes.IsSequence() || probes.size() == 0) {
    return doc.Error(probes ? probes : root, "'probes' must list at least one {id, pop}");
  }
  for (const auto& p : probes) {
    VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(p, {"id", "pop"}));
    VANTAGE_ASSIGN_OR_RETURN(std::string id, doc.String(p, "id", ""));
    VANTAGE_ASSIGN_OR_RETURN(std::string pop, doc.String(p, "pop", ""));
    if (id.empty() || pop.empty()) return doc.Error(p, "a probe needs both 'id' and 'pop'");
    if (!c.probe_pops.emplace(id, pop).second) {
      return doc.Error(p, absl::StrCat("probe '", id, "' listed twice"));
    }
  }
  if (const YAML::Node ops = root["operators"]; ops) {
    if (!ops.IsSequence()) return doc.Error(ops, "'operators' must be a list of certificate names");
    for (const auto& o : ops) {
      if (!o.IsScalar() || o.Scalar().empty()) return doc.Error(o, "bad operator name");
      if (c.probe_pops.contains(o.Scalar())) {
        return doc.Error(
            o, absl::StrCat("'", o.Scalar(), "' is a probe; probes may not be operators"));
      }
      if (std::find(c.operators.begin(), c.operators.end(), o.Scalar()) != c.operators.end()) {
        return doc.Error(o, absl::StrCat("operator '", o.Scalar(), "' listed twice"));
      }
      c.operators.push_back(o.Scalar());
    }
  }
  if (const YAML::Node control = root["control"]; control) {
    VANTAGE_ASSIGN_OR_RETURN(PushModel model, PushModelFromNode(doc, control));
    if (model.adapter.type.empty()) {
      return doc.Error(control,
                       "control needs an 'adapter' ({type: exabgp, socket: PATH} or "
                       "{type: json, path: FILE})");
    }
    std::set<std::string> pops;
    for (const auto& [id, pop] : c.probe_pops) pops.insert(pop);
    for (const auto& p : model.pops) {
      if (!pops.contains(p.name)) {
        return doc.Error(control["pops"],
                         absl::StrCat("control pop '", p.name, "' has no probe in 'probes'"));
      }
    }
    c.control = std::move(model);
  }
  return c;
}

}  // namespace

absl::StatusOr<CollectorConfig> CollectorConfig::Load(const std::string& path) {
  VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Load(path));
  return FromDoc(doc);
}

absl::StatusOr<CollectorConfig> CollectorConfig::Parse(const std::string& yaml,
                                                       const std::string& name) {
  VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Parse(yaml, name));
  return FromDoc(doc);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace vantage::collector
