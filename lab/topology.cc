#include "lab/topology.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/status_macros.h"

namespace vantage::lab {

double GilbertElliottParams::StationaryLoss() const {
  const double total = p_good_to_bad + p_bad_to_good;
  if (total <= 0.0) return loss_good;  // the chain never leaves the good state
  const double bad_share = p_good_to_bad / total;
  return bad_share * loss_bad + (1.0 - bad_share) * loss_good;
}

const Pop* Topology::FindPop(absl::string_view name) const {
  for (const Pop& p : pops) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const Region* Topology::FindRegion(absl::string_view name) const {
  for (const Region& r : regions) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

const Link* Topology::FindLink(absl::string_view pop, absl::string_view region) const {
  for (const Link& l : links) {
    if (l.pop == pop && l.region == region) return &l;
  }
  return nullptr;
}

namespace {

// Reads YAML nodes strictly, turning every problem into an error that names
// the file, line and column.
class Reader {
 public:
  explicit Reader(absl::string_view file) : file_(file) {}

  absl::Status Error(const YAML::Node& node, absl::string_view message) const {
    const YAML::Mark mark = node.Mark();
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ":", mark.line + 1, ":", mark.column + 1, ": ", message));
  }

  absl::Status ExpectMap(const YAML::Node& node, absl::string_view what) const {
    if (!node.IsMap()) return Error(node, absl::StrCat(what, " must be a mapping"));
    return absl::OkStatus();
  }

  absl::Status ExpectSequence(const YAML::Node& node, absl::string_view what) const {
    if (!node.IsSequence()) return Error(node, absl::StrCat(what, " must be a list"));
    return absl::OkStatus();
  }

  // Every key of `map` must be one of `allowed`.
  absl::Status CheckKeys(const YAML::Node& map, absl::string_view what,
                         std::initializer_list<const char*> allowed) const {
    VANTAGE_RETURN_IF_ERROR(ExpectMap(map, what));
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!it->first.IsScalar()) return Error(it->first, "keys must be plain names");
      const std::string key = it->first.Scalar();
      bool ok = false;
      for (const char* a : allowed) ok = ok || key == a;
      if (!ok) {
        return Error(it->first,
                     absl::StrCat("unknown key '", key, "' in ", what,
                                  " (expected one of: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& node, absl::string_view what) const {
    if (!node.IsScalar()) return Error(node, absl::StrCat(what, " must be a string"));
    return node.Scalar();
  }

  absl::StatusOr<double> Number(const YAML::Node& node, absl::string_view what, double min,
                                double max) const {
    if (!node.IsScalar()) return Error(node, absl::StrCat(what, " must be a number"));
    double value = 0;
    const std::string& text = node.Scalar();
    std::istringstream in(text);
    in >> value;
    if (in.fail() || !in.eof() || !std::isfinite(value)) {
      return Error(node, absl::StrCat(what, ": '", text, "' is not a number"));
    }
    if (value < min || value > max) {
      return Error(node, absl::StrCat(what, " must be in [", min, ", ", max, "], got ", text));
    }
    return value;
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node, absl::string_view what) const {
    if (node.IsScalar()) {
      const std::string& t = node.Scalar();
      if (t == "true") return true;
      if (t == "false") return false;
    }
    return Error(node, absl::StrCat(what, " must be true or false"));
  }

  absl::StatusOr<std::string> Name(const YAML::Node& node, absl::string_view what) const {
    VANTAGE_ASSIGN_OR_RETURN(std::string name, String(node, what));
    bool ok = !name.empty() && name.size() <= 20 && name.front() != '-';
    for (char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    if (!ok) {
      return Error(node, absl::StrCat(what, " '", name,
                                      "' must be 1-20 characters of a-z, 0-9 and '-', "
                                      "not starting with '-'"));
    }
    return name;
  }

  // A lab address: inside 198.18.0.0/15 or 2001:db8::/32.
  absl::StatusOr<IpAddress> LabAddress(const YAML::Node& node, absl::string_view what) const {
    VANTAGE_ASSIGN_OR_RETURN(std::string text, String(node, what));
    absl::StatusOr<IpAddress> a = IpAddress::Parse(text);
    if (!a.ok()) return Error(node, absl::StrCat(what, ": '", text, "' is not an IP address"));
    static const Prefix kV4 = *Prefix::Parse("198.18.0.0/15");
    static const Prefix kV6 = *Prefix::Parse("2001:db8::/32");
    if (!kV4.Contains(*a) && !kV6.Contains(*a)) {
      return Error(node,
                   absl::StrCat(what, " ", text,
                                " is outside the lab ranges 198.18.0.0/15 and 2001:db8::/32"));
    }
    return *a;
  }

  absl::StatusOr<std::vector<IpAddress>> AddressList(const YAML::Node& node,
                                                     absl::string_view what) const {
    VANTAGE_RETURN_IF_ERROR(ExpectSequence(node, what));
    std::vector<IpAddress> out;
    for (const YAML::Node& item : node) {
      VANTAGE_ASSIGN_OR_RETURN(IpAddress a, LabAddress(item, what));
      out.push_back(a);
    }
    return out;
  }

  absl::StatusOr<absl::Duration> Millis(const YAML::Node& node, absl::string_view what) const {
    VANTAGE_ASSIGN_OR_RETURN(double ms, Number(node, what, 0.0, 60'000.0));
    return absl::Microseconds(std::llround(ms * 1000.0));
  }

  // Applies the link parameter keys present in `map` onto `params`; other
  // keys are left to the caller's CheckKeys.
  absl::Status LinkParamsInto(const YAML::Node& map, LinkParams* params) const {
    if (const YAML::Node n = map["delay_ms"]) {
      VANTAGE_ASSIGN_OR_RETURN(params->delay, Millis(n, "delay_ms"));
    }
    if (const YAML::Node n = map["jitter_ms"]) {
      VANTAGE_ASSIGN_OR_RETURN(params->jitter, Millis(n, "jitter_ms"));
    }
    if (const YAML::Node n = map["loss"]) {
      VANTAGE_ASSIGN_OR_RETURN(params->loss, Number(n, "loss", 0.0, 1.0));
    }
    if (const YAML::Node n = map["queue_limit"]) {
      VANTAGE_ASSIGN_OR_RETURN(double q, Number(n, "queue_limit", 1.0, 1'000'000.0));
      if (q != std::floor(q)) return Error(n, "queue_limit must be a whole number");
      params->queue_limit = static_cast<size_t>(q);
    }
    if (const YAML::Node n = map["allow_reorder"]) {
      VANTAGE_ASSIGN_OR_RETURN(params->allow_reorder, Bool(n, "allow_reorder"));
    }
    if (const YAML::Node n = map["gilbert_elliott"]) {
      VANTAGE_RETURN_IF_ERROR(CheckKeys(
          n, "gilbert_elliott", {"p_good_to_bad", "p_bad_to_good", "loss_good", "loss_bad"}));
      GilbertElliottParams ge;
      if (!n["p_good_to_bad"] || !n["p_bad_to_good"]) {
        return Error(n, "gilbert_elliott needs p_good_to_bad and p_bad_to_good");
      }
      VANTAGE_ASSIGN_OR_RETURN(ge.p_good_to_bad, Number(n["p_good_to_bad"], "p_good_to_bad", 0, 1));
      VANTAGE_ASSIGN_OR_RETURN(ge.p_bad_to_good, Number(n["p_bad_to_good"], "p_bad_to_good", 0, 1));
      if (n["loss_good"]) {
        VANTAGE_ASSIGN_OR_RETURN(ge.loss_good, Number(n["loss_good"], "loss_good", 0, 1));
      }
      if (n["loss_bad"]) {
        VANTAGE_ASSIGN_OR_RETURN(ge.loss_bad, Number(n["loss_bad"], "loss_bad", 0, 1));
      }
      params->gilbert_elliott = ge;
    }
    return absl::OkStatus();
  }

 private:
  std::string file_;
};

#define VANTAGE_LAB_LINK_KEYS \
  "delay_ms", "jitter_ms", "loss", "gilbert_elliott", "queue_limit", "allow_reorder"

absl::StatusOr<Topology> ParseDocument(const YAML::Node& root, const Reader& r) {
  Topology topo;
  VANTAGE_RETURN_IF_ERROR(
      r.CheckKeys(root, "the topology", {"pops", "regions", "router", "links", "services"}));

  absl::flat_hash_map<std::string, YAML::Node> name_nodes;
  absl::flat_hash_set<IpAddress> unicast;
  auto claim_name = [&](const std::string& name, const YAML::Node& node) -> absl::Status {
    if (!name_nodes.emplace(name, node).second) {
      return r.Error(node, absl::StrCat("name '", name, "' is used twice"));
    }
    return absl::OkStatus();
  };
  auto claim_addresses = [&](const std::vector<IpAddress>& list,
                             const YAML::Node& node) -> absl::Status {
    for (const IpAddress& a : list) {
      if (!unicast.insert(a).second) {
        return r.Error(node, absl::StrCat("address ", a.ToString(), " is used twice"));
      }
    }
    return absl::OkStatus();
  };

  if (const YAML::Node s = root["services"]) {
    VANTAGE_RETURN_IF_ERROR(r.CheckKeys(s, "services", {"dns_port", "tcp_port", "dns_zone"}));
    if (s["dns_port"]) {
      VANTAGE_ASSIGN_OR_RETURN(double p, r.Number(s["dns_port"], "dns_port", 1, 65535));
      topo.services.dns_port = static_cast<uint16_t>(p);
    }
    if (s["tcp_port"]) {
      VANTAGE_ASSIGN_OR_RETURN(double p, r.Number(s["tcp_port"], "tcp_port", 1, 65535));
      topo.services.tcp_port = static_cast<uint16_t>(p);
    }
    if (s["dns_zone"]) {
      VANTAGE_ASSIGN_OR_RETURN(topo.services.dns_zone, r.String(s["dns_zone"], "dns_zone"));
    }
  }

  const YAML::Node pops = root["pops"];
  if (!pops) return r.Error(root, "the topology needs 'pops'");
  VANTAGE_RETURN_IF_ERROR(r.ExpectSequence(pops, "pops"));
  if (pops.size() == 0) return r.Error(pops, "pops must not be empty");
  for (const YAML::Node& n : pops) {
    VANTAGE_RETURN_IF_ERROR(r.CheckKeys(n, "a pop", {"name", "capacity", "addresses", "services"}));
    if (!n["name"] || !n["addresses"]) return r.Error(n, "a pop needs 'name' and 'addresses'");
    Pop pop;
    VANTAGE_ASSIGN_OR_RETURN(pop.name, r.Name(n["name"], "pop name"));
    VANTAGE_RETURN_IF_ERROR(claim_name(pop.name, n["name"]));
    if (n["capacity"]) {
      VANTAGE_ASSIGN_OR_RETURN(pop.capacity, r.Number(n["capacity"], "capacity", 0, 1e12));
    }
    VANTAGE_ASSIGN_OR_RETURN(pop.addresses, r.AddressList(n["addresses"], "pop address"));
    if (pop.addresses.empty()) return r.Error(n["addresses"], "a pop needs an address");
    VANTAGE_RETURN_IF_ERROR(claim_addresses(pop.addresses, n["addresses"]));
    if (n["services"]) {
      VANTAGE_ASSIGN_OR_RETURN(pop.services, r.AddressList(n["services"], "service address"));
    }
    topo.pops.push_back(std::move(pop));
  }

  const YAML::Node regions = root["regions"];
  if (!regions) return r.Error(root, "the topology needs 'regions'");
  VANTAGE_RETURN_IF_ERROR(r.ExpectSequence(regions, "regions"));
  if (regions.size() == 0) return r.Error(regions, "regions must not be empty");
  absl::flat_hash_map<std::string, YAML::Node> catchment_nodes;
  for (const YAML::Node& n : regions) {
    VANTAGE_RETURN_IF_ERROR(
        r.CheckKeys(n, "a region", {"name", "addresses", "demand", "catchment"}));
    if (!n["name"] || !n["addresses"]) return r.Error(n, "a region needs 'name' and 'addresses'");
    Region region;
    VANTAGE_ASSIGN_OR_RETURN(region.name, r.Name(n["name"], "region name"));
    VANTAGE_RETURN_IF_ERROR(claim_name(region.name, n["name"]));
    VANTAGE_ASSIGN_OR_RETURN(region.addresses, r.AddressList(n["addresses"], "region address"));
    if (region.addresses.empty()) return r.Error(n["addresses"], "a region needs an address");
    VANTAGE_RETURN_IF_ERROR(claim_addresses(region.addresses, n["addresses"]));
    if (n["demand"]) {
      VANTAGE_ASSIGN_OR_RETURN(region.demand, r.Number(n["demand"], "demand", 0, 1e12));
    }
    if (n["catchment"]) {
      VANTAGE_ASSIGN_OR_RETURN(region.catchment, r.Name(n["catchment"], "catchment"));
      catchment_nodes[region.name] = n["catchment"];
    }
    topo.regions.push_back(std::move(region));
  }

  topo.router.addresses = {*IpAddress::Parse("198.18.255.254"),
                           *IpAddress::Parse("2001:db8:ff::fe")};
  topo.router.link.delay = absl::Microseconds(100);
  const YAML::Node router_node = root["router"];
  if (router_node) {
    VANTAGE_RETURN_IF_ERROR(
        r.CheckKeys(router_node, "router", {"name", "addresses", VANTAGE_LAB_LINK_KEYS}));
    if (router_node["name"]) {
      VANTAGE_ASSIGN_OR_RETURN(topo.router.name, r.Name(router_node["name"], "router name"));
    }
    if (router_node["addresses"]) {
      VANTAGE_ASSIGN_OR_RETURN(topo.router.addresses,
                               r.AddressList(router_node["addresses"], "router address"));
      if (topo.router.addresses.empty()) {
        return r.Error(router_node["addresses"], "the router needs an address");
      }
    }
    VANTAGE_RETURN_IF_ERROR(r.LinkParamsInto(router_node, &topo.router.link));
  }
  const YAML::Node router_at = router_node ? router_node : root;
  VANTAGE_RETURN_IF_ERROR(claim_name(topo.router.name, router_at));
  VANTAGE_RETURN_IF_ERROR(claim_addresses(topo.router.addresses, router_at));

  // Service addresses may repeat across PoPs (that is anycast) but must not
  // be anybody's unicast address.
  for (size_t i = 0; i < topo.pops.size(); ++i) {
    for (const IpAddress& s : topo.pops[i].services) {
      if (unicast.contains(s)) {
        return r.Error(pops[i]["services"], absl::StrCat("service address ", s.ToString(),
                                                         " is also a unicast address"));
      }
    }
  }

  const YAML::Node links = root["links"];
  if (!links) return r.Error(root, "the topology needs 'links'");
  VANTAGE_RETURN_IF_ERROR(r.ExpectSequence(links, "links"));
  for (const YAML::Node& n : links) {
    VANTAGE_RETURN_IF_ERROR(
        r.CheckKeys(n, "a link", {"pop", "region", "to_pop", "to_region", VANTAGE_LAB_LINK_KEYS}));
    if (!n["pop"] || !n["region"]) return r.Error(n, "a link needs 'pop' and 'region'");
    Link link;
    VANTAGE_ASSIGN_OR_RETURN(link.pop, r.Name(n["pop"], "link pop"));
    VANTAGE_ASSIGN_OR_RETURN(link.region, r.Name(n["region"], "link region"));
    if (topo.FindPop(link.pop) == nullptr) {
      return r.Error(n["pop"], absl::StrCat("no pop named '", link.pop, "'"));
    }
    if (topo.FindRegion(link.region) == nullptr) {
      return r.Error(n["region"], absl::StrCat("no region named '", link.region, "'"));
    }
    LinkParams both;
    VANTAGE_RETURN_IF_ERROR(r.LinkParamsInto(n, &both));
    link.to_pop = both;
    link.to_region = both;
    if (const YAML::Node d = n["to_pop"]) {
      VANTAGE_RETURN_IF_ERROR(r.CheckKeys(d, "to_pop", {VANTAGE_LAB_LINK_KEYS}));
      VANTAGE_RETURN_IF_ERROR(r.LinkParamsInto(d, &link.to_pop));
    }
    if (const YAML::Node d = n["to_region"]) {
      VANTAGE_RETURN_IF_ERROR(r.CheckKeys(d, "to_region", {VANTAGE_LAB_LINK_KEYS}));
      VANTAGE_RETURN_IF_ERROR(r.LinkParamsInto(d, &link.to_region));
    }
    if (topo.FindLink(link.pop, link.region) != nullptr) {
      return r.Error(n, absl::StrCat("link ", link.pop, " <-> ", link.region, " is listed twice"));
    }
    topo.links.push_back(std::move(link));
  }

  // Catchments: a linked PoP; by default the nearest linked PoP.
  for (size_t i = 0; i < topo.regions.size(); ++i) {
    Region& region = topo.regions[i];
    if (!region.catchment.empty()) {
      if (topo.FindPop(region.catchment) == nullptr) {
        return r.Error(catchment_nodes[region.name],
                       absl::StrCat("no pop named '", region.catchment, "'"));
      }
      if (topo.FindLink(region.catchment, region.name) == nullptr) {
        return r.Error(
            catchment_nodes[region.name],
            absl::StrCat("catchment ", region.catchment, " has no link to region ", region.name));
      }
      continue;
    }
    const Link* best = nullptr;
    for (const Link& l : topo.links) {
      if (l.region == region.name && (best == nullptr || l.to_pop.delay < best->to_pop.delay)) {
        best = &l;
      }
    }
    if (best == nullptr) {
      return r.Error(regions[i], absl::StrCat("region ", region.name, " has no link to any pop"));
    }
    region.catchment = best->pop;
  }
  return topo;
}

#undef VANTAGE_LAB_LINK_KEYS

}  // namespace

absl::StatusOr<Topology> ParseTopology(absl::string_view yaml_text, absl::string_view file_name) {
  const Reader reader(file_name);
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsDefined() || root.IsNull()) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ":1:1: the topology is empty"));
    }
    return ParseDocument(root, reader);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<Topology> LoadTopology(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read topology file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseTopology(text.str(), path);
}

}  // namespace vantage::lab
