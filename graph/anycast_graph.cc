#include "graph/anycast_graph.h"

#include <algorithm>
#include <atomic>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/graphviz.hpp>
#include <cmath>
#include <sstream>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vantage::graph {

namespace {

bool Finite(double v) { return std::isfinite(v); }

struct VertexProps {
  bool is_pop = false;
  int32_t index = 0;  // PopId or RegionId
};

// listS out-edges: edge descriptors stay valid while other edges come and go.
using BoostGraph =
    boost::adjacency_list<boost::listS, boost::vecS, boost::bidirectionalS, VertexProps, Path>;
using Vertex = boost::graph_traits<BoostGraph>::vertex_descriptor;
using Edge = boost::graph_traits<BoostGraph>::edge_descriptor;

absl::Status ValidateMeasurement(const Measurement& m) {
  if (!Finite(m.rtt_p50_ms) || !Finite(m.rtt_p90_ms) || !Finite(m.rtt_p99_ms) || m.rtt_p50_ms < 0 ||
      m.rtt_p90_ms < m.rtt_p50_ms || m.rtt_p99_ms < m.rtt_p90_ms) {
    return absl::InvalidArgumentError(
        absl::StrFormat("rtt quantiles must be finite, >= 0 and p50 <= p90 <= p99 (got %g/%g/%g)",
                        m.rtt_p50_ms, m.rtt_p90_ms, m.rtt_p99_ms));
  }
  if (!Finite(m.loss) || m.loss < 0 || m.loss > 1) {
    return absl::InvalidArgumentError(absl::StrFormat("loss must be in [0, 1] (got %g)", m.loss));
  }
  if (m.dns_ms.has_value() && (!Finite(*m.dns_ms) || *m.dns_ms < 0)) {
    return absl::InvalidArgumentError("dns_ms must be finite and >= 0");
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view MethodName(Method method) {
  switch (method) {
    case Method::kIcmp:
      return "icmp";
    case Method::kTcp:
      return "tcp";
    case Method::kStamp:
      return "stamp";
    case Method::kPassive:
      return "passive";
    case Method::kDns:
      return "dns";
  }
  return "unknown";
}

absl::StatusOr<Method> ParseMethod(absl::string_view name) {
  for (Method m : kAllMethods) {
    if (MethodName(m) == name) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown method '", name, "' (icmp, tcp, stamp, passive, dns)"));
}

namespace {
// Region revisions: one counter for every graph of the process, so that a
// stamp is never reused by another graph's different content.
uint64_t NextRevision() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

struct AnycastGraph::Impl {
  BoostGraph g;
  std::vector<Pop> pops;
  std::vector<Region> regions;
  std::vector<Vertex> pop_vertex;
  std::vector<Vertex> region_vertex;
  absl::flat_hash_map<std::string, PopId> pop_by_name;
  absl::flat_hash_map<std::string, RegionId> region_by_name;
  FreshnessPolicy freshness;
  absl::Time snapshot_time = absl::UnixEpoch();
  // Every region's paths sorted by pop, kept in step with the edges (edge
  // properties of a listS graph never move): PathsOfRegion() without
  // walking Boost's in-edge lists, which is most of an optimizer pass.
  std::vector<std::vector<const Path*>> region_paths;
  std::vector<uint64_t> region_revision;  // see AnycastGraph::region_revision
  // In step with region_paths: see AnycastGraph::PathRevisionsOfRegion.
  std::vector<std::vector<uint64_t>> path_revision;

  void Touch(RegionId r) { region_revision[static_cast<size_t>(r)] = NextRevision(); }
  // A new stamp for `path` (and its region).
  void TouchPath(const Path* path) {
    const auto r = static_cast<size_t>(path->region);
    const auto& v = region_paths[r];
    const auto it = std::find(v.begin(), v.end(), path);
    if (it != v.end()) path_revision[r][static_cast<size_t>(it - v.begin())] = NextRevision();
    Touch(path->region);
  }

  void AddRegionPath(const Path* path) {
    const auto r = static_cast<size_t>(path->region);
    auto& v = region_paths[r];
    const auto it = std::upper_bound(v.begin(), v.end(), path,
                                     [](const Path* a, const Path* b) { return a->pop < b->pop; });
    path_revision[r].insert(path_revision[r].begin() + (it - v.begin()), NextRevision());
    v.insert(it, path);
  }
  void RemoveRegionPath(const Path* path) {
    const auto r = static_cast<size_t>(path->region);
    auto& v = region_paths[r];
    const auto it = std::find(v.begin(), v.end(), path);
    if (it == v.end()) return;
    path_revision[r].erase(path_revision[r].begin() + (it - v.begin()));
    v.erase(it);
  }

  std::optional<Edge> FindEdge(PopId pop, RegionId region) const {
    // A region is measured by at most every PoP: scan its in-edges, not the
    // PoP's out-edges (which may number in the tens of thousands).
    for (auto [it, end] = boost::in_edges(region_vertex[static_cast<size_t>(region)], g); it != end;
         ++it) {
      if (g[*it].pop == pop) return *it;
    }
    return std::nullopt;
  }
  bool ValidPop(PopId id) const { return id >= 0 && static_cast<size_t>(id) < pops.size(); }
  bool ValidRegion(RegionId id) const {
    return id >= 0 && static_cast<size_t>(id) < regions.size();
  }
};

AnycastGraph::AnycastGraph() : impl_(std::make_unique<Impl>()) {}
AnycastGraph::~AnycastGraph() = default;
AnycastGraph::AnycastGraph(AnycastGraph&& other) noexcept = default;
AnycastGraph& AnycastGraph::operator=(AnycastGraph&& other) noexcept = default;

AnycastGraph::AnycastGraph(const AnycastGraph& other) : impl_(std::make_unique<Impl>()) {
  *this = other;
}

AnycastGraph& AnycastGraph::operator=(const AnycastGraph& other) {
  if (this == &other) return *this;
  // Rebuild rather than copy the Boost graph: vertex order is ours to keep.
  auto fresh = std::make_unique<Impl>();
  fresh->freshness = other.impl_->freshness;
  fresh->snapshot_time = other.impl_->snapshot_time;
  impl_ = std::move(fresh);
  for (const Pop& p : other.impl_->pops) (void)AddPop(p);
  for (const Region& r : other.impl_->regions) (void)AddRegion(r);
  for (const Path* path : other.AllPaths()) {
    Edge e = boost::add_edge(impl_->pop_vertex[static_cast<size_t>(path->pop)],
                             impl_->region_vertex[static_cast<size_t>(path->region)], impl_->g)
                 .first;
    impl_->g[e] = *path;
    impl_->AddRegionPath(&impl_->g[e]);
  }
  impl_->region_revision = other.impl_->region_revision;  // same content
  impl_->path_revision = other.impl_->path_revision;      // same paths, same order
  return *this;
}

absl::StatusOr<PopId> AnycastGraph::AddPop(Pop pop) {
  if (pop.name.empty()) return absl::InvalidArgumentError("PoP name is empty");
  if (impl_->pop_by_name.contains(pop.name)) {
    return absl::AlreadyExistsError(absl::StrCat("duplicate PoP '", pop.name, "'"));
  }
  if (!Finite(pop.capacity) || pop.capacity < 0 || !Finite(pop.load) || pop.load < 0 ||
      !Finite(pop.latitude) || !Finite(pop.longitude)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PoP '", pop.name, "': capacity and load must be finite and >= 0"));
  }
  const auto id = static_cast<PopId>(impl_->pops.size());
  Vertex v = boost::add_vertex(VertexProps{true, id}, impl_->g);
  impl_->pop_vertex.push_back(v);
  impl_->pop_by_name.emplace(pop.name, id);
  impl_->pops.push_back(std::move(pop));
  return id;
}

absl::StatusOr<RegionId> AnycastGraph::AddRegion(Region region) {
  if (region.name.empty()) return absl::InvalidArgumentError("region name is empty");
  if (impl_->region_by_name.contains(region.name)) {
    return absl::AlreadyExistsError(absl::StrCat("duplicate region '", region.name, "'"));
  }
  if (!Finite(region.demand) || region.demand < 0 || !Finite(region.latitude) ||
      !Finite(region.longitude)) {
    return absl::InvalidArgumentError(
        absl::StrCat("region '", region.name, "': demand must be finite and >= 0"));
  }
  const auto id = static_cast<RegionId>(impl_->regions.size());
  std::vector<PopWeight> weights = std::move(region.current_weights);
  region.current_weights.clear();
  Vertex v = boost::add_vertex(VertexProps{false, id}, impl_->g);
  impl_->region_vertex.push_back(v);
  impl_->region_paths.emplace_back();
  impl_->path_revision.emplace_back();
  impl_->region_revision.push_back(NextRevision());
  impl_->region_by_name.emplace(region.name, id);
  impl_->regions.push_back(std::move(region));
  if (!weights.empty()) {
    if (absl::Status s = SetCurrentWeights(id, std::move(weights)); !s.ok()) {
      // Undo: the region must not exist half-made.
      boost::remove_vertex(v, impl_->g);
      impl_->region_vertex.pop_back();
      impl_->region_paths.pop_back();
      impl_->path_revision.pop_back();
      impl_->region_revision.pop_back();
      impl_->region_by_name.erase(impl_->regions.back().name);
      impl_->regions.pop_back();
      return s;
    }
  }
  return id;
}

int AnycastGraph::pop_count() const { return static_cast<int>(impl_->pops.size()); }
int AnycastGraph::region_count() const { return static_cast<int>(impl_->regions.size()); }
const Pop& AnycastGraph::pop(PopId id) const { return impl_->pops.at(static_cast<size_t>(id)); }
const Region& AnycastGraph::region(RegionId id) const {
  return impl_->regions.at(static_cast<size_t>(id));
}

std::optional<PopId> AnycastGraph::FindPop(absl::string_view name) const {
  auto it = impl_->pop_by_name.find(std::string(name));
  if (it == impl_->pop_by_name.end()) return std::nullopt;
  return it->second;
}

std::optional<RegionId> AnycastGraph::FindRegion(absl::string_view name) const {
  auto it = impl_->region_by_name.find(std::string(name));
  if (it == impl_->region_by_name.end()) return std::nullopt;
  return it->second;
}

absl::Status AnycastGraph::SetPopCapacity(PopId id, double capacity) {
  if (!impl_->ValidPop(id)) return absl::NotFoundError("no such PoP");
  if (!Finite(capacity) || capacity < 0) {
    return absl::InvalidArgumentError("capacity must be finite and >= 0");
  }
  impl_->pops[static_cast<size_t>(id)].capacity = capacity;
  return absl::OkStatus();
}

absl::Status AnycastGraph::SetPopHealthy(PopId id, bool healthy) {
  if (!impl_->ValidPop(id)) return absl::NotFoundError("no such PoP");
  impl_->pops[static_cast<size_t>(id)].healthy = healthy;
  return absl::OkStatus();
}

absl::Status AnycastGraph::SetPopLoad(PopId id, double load) {
  if (!impl_->ValidPop(id)) return absl::NotFoundError("no such PoP");
  if (!Finite(load) || load < 0) return absl::InvalidArgumentError("load must be finite and >= 0");
  impl_->pops[static_cast<size_t>(id)].load = load;
  return absl::OkStatus();
}

absl::Status AnycastGraph::SetRegionDemand(RegionId id, double demand) {
  if (!impl_->ValidRegion(id)) return absl::NotFoundError("no such region");
  if (!Finite(demand) || demand < 0) {
    return absl::InvalidArgumentError("demand must be finite and >= 0");
  }
  impl_->regions[static_cast<size_t>(id)].demand = demand;
  impl_->Touch(id);
  return absl::OkStatus();
}

absl::Status AnycastGraph::SetCurrentWeights(RegionId id, std::vector<PopWeight> weights) {
  if (!impl_->ValidRegion(id)) return absl::NotFoundError("no such region");
  const std::string& name = impl_->regions[static_cast<size_t>(id)].name;
  std::sort(weights.begin(), weights.end(),
            [](const PopWeight& a, const PopWeight& b) { return a.pop < b.pop; });
  double sum = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (!impl_->ValidPop(weights[i].pop)) {
      return absl::InvalidArgumentError(absl::StrCat("region '", name, "': weight on unknown PoP"));
    }
    if (i > 0 && weights[i].pop == weights[i - 1].pop) {
      return absl::InvalidArgumentError(absl::StrCat("region '", name, "': PoP weighted twice"));
    }
    if (!Finite(weights[i].weight) || weights[i].weight <= 0 || weights[i].weight > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("region '", name, "': weights must be in (0, 1]"));
    }
    sum += weights[i].weight;
  }
  if (!weights.empty() && std::fabs(sum - 1.0) > 1e-9) {
    return absl::InvalidArgumentError(
        absl::StrFormat("region '%s': current weights sum to %.12g, not 1", name, sum));
  }
  std::vector<PopWeight>& stored = impl_->regions[static_cast<size_t>(id)].current_weights;
  if (stored == weights) return absl::OkStatus();  // unchanged: same revision
  stored = std::move(weights);
  impl_->Touch(id);
  return absl::OkStatus();
}

absl::Status AnycastGraph::RecordMeasurement(PopId pop, RegionId region, const Measurement& m) {
  if (!impl_->ValidPop(pop) || !impl_->ValidRegion(region)) {
    return absl::NotFoundError("no such PoP or region");
  }
  if (absl::Status s = ValidateMeasurement(m); !s.ok()) return s;
  std::optional<Edge> e = impl_->FindEdge(pop, region);
  if (!e.has_value()) {
    e = boost::add_edge(impl_->pop_vertex[static_cast<size_t>(pop)],
                        impl_->region_vertex[static_cast<size_t>(region)], impl_->g)
            .first;
    impl_->g[*e].pop = pop;
    impl_->g[*e].region = region;
    impl_->AddRegionPath(&impl_->g[*e]);
  }
  std::vector<Measurement>& ms = impl_->g[*e].measurements;
  auto it = std::lower_bound(ms.begin(), ms.end(), m.method,
                             [](const Measurement& a, Method b) { return a.method < b; });
  if (it != ms.end() && it->method == m.method) {
    if (m.updated >= it->updated) *it = m;
  } else {
    ms.insert(it, m);
  }
  impl_->TouchPath(&impl_->g[*e]);
  return absl::OkStatus();
}

absl::Status AnycastGraph::SetCatchment(PopId pop, RegionId region, std::string catchment) {
  std::optional<Edge> e = impl_->ValidPop(pop) && impl_->ValidRegion(region)
                              ? impl_->FindEdge(pop, region)
                              : std::nullopt;
  if (!e.has_value()) return absl::NotFoundError("path is missing");
  impl_->g[*e].catchment = std::move(catchment);
  impl_->TouchPath(&impl_->g[*e]);
  return absl::OkStatus();
}

const Path* AnycastGraph::FindPath(PopId pop, RegionId region) const {
  if (!impl_->ValidPop(pop) || !impl_->ValidRegion(region)) return nullptr;
  std::optional<Edge> e = impl_->FindEdge(pop, region);
  if (!e.has_value()) return nullptr;
  return &impl_->g[*e];
}

std::vector<const Path*> AnycastGraph::PathsOfRegion(RegionId region) const {
  if (!impl_->ValidRegion(region)) return {};
  return impl_->region_paths[static_cast<size_t>(region)];
}

const std::vector<const Path*>& AnycastGraph::RegionPaths(RegionId region) const {
  static const std::vector<const Path*> kNone;
  if (!impl_->ValidRegion(region)) return kNone;
  return impl_->region_paths[static_cast<size_t>(region)];
}

const std::vector<uint64_t>& AnycastGraph::PathRevisionsOfRegion(RegionId region) const {
  static const std::vector<uint64_t> kNone;
  if (!impl_->ValidRegion(region)) return kNone;
  return impl_->path_revision[static_cast<size_t>(region)];
}

std::vector<const Path*> AnycastGraph::AllPaths() const {
  std::vector<const Path*> out;
  out.reserve(boost::num_edges(impl_->g));
  for (RegionId r = 0; r < region_count(); ++r) {
    std::vector<const Path*> paths = PathsOfRegion(r);
    out.insert(out.end(), paths.begin(), paths.end());
  }
  return out;
}

size_t AnycastGraph::path_count() const { return boost::num_edges(impl_->g); }

const FreshnessPolicy& AnycastGraph::freshness() const { return impl_->freshness; }
void AnycastGraph::set_freshness(const FreshnessPolicy& policy) { impl_->freshness = policy; }

double AnycastGraph::FreshSamples(const Measurement& m, absl::Time now) const {
  const absl::Duration age = std::max(absl::ZeroDuration(), now - m.updated);
  const double half_lives = absl::FDivDuration(age, impl_->freshness.half_life);
  return static_cast<double>(m.samples) * std::exp2(-half_lives);
}

int AnycastGraph::ExpireStale(absl::Time now) {
  int dropped = 0;
  std::vector<Edge> empty;
  for (auto [it, end] = boost::edges(impl_->g); it != end; ++it) {
    std::vector<Measurement>& ms = impl_->g[*it].measurements;
    const size_t before = ms.size();
    ms.erase(std::remove_if(
                 ms.begin(), ms.end(),
                 [&](const Measurement& m) { return now - m.updated > impl_->freshness.expiry; }),
             ms.end());
    dropped += static_cast<int>(before - ms.size());
    if (ms.size() != before) impl_->TouchPath(&impl_->g[*it]);
    if (ms.empty()) empty.push_back(*it);
  }
  for (const Edge& e : empty) {
    impl_->RemoveRegionPath(&impl_->g[e]);
    boost::remove_edge(e, impl_->g);
  }
  return dropped;
}

uint64_t AnycastGraph::region_revision(RegionId id) const {
  return impl_->region_revision.at(static_cast<size_t>(id));
}

absl::Time AnycastGraph::snapshot_time() const { return impl_->snapshot_time; }
void AnycastGraph::set_snapshot_time(absl::Time t) { impl_->snapshot_time = t; }

std::string AnycastGraph::ToDot() const {
  const Impl& im = *impl_;
  auto vertex_writer = [&im](std::ostream& out, Vertex v) {
    const VertexProps& p = im.g[v];
    if (p.is_pop) {
      const Pop& pop = im.pops[static_cast<size_t>(p.index)];
      out << absl::StrFormat("[shape=box,label=\"%s\\ncap %g\"%s]", pop.name, pop.capacity,
                             pop.healthy ? "" : ",style=dashed,color=red");
    } else {
      const Region& r = im.regions[static_cast<size_t>(p.index)];
      out << absl::StrFormat("[shape=ellipse,label=\"%s\\ndemand %g\"]", r.name, r.demand);
    }
  };
  auto edge_writer = [&im](std::ostream& out, Edge e) {
    const Path& path = im.g[e];
    const Measurement* freshest = nullptr;
    for (const Measurement& m : path.measurements) {
      if (m.method == Method::kDns) continue;
      if (freshest == nullptr || m.updated > freshest->updated) freshest = &m;
    }
    if (freshest != nullptr) {
      out << absl::StrFormat("[label=\"%.1f ms\"]", freshest->rtt_p50_ms);
    } else {
      out << "[style=dotted]";
    }
  };
  std::ostringstream out;
  boost::write_graphviz(out, im.g, vertex_writer, edge_writer);
  return out.str();
}

}  // namespace vantage::graph
