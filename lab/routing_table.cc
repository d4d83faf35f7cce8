#include "lab/routing_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace vantage::lab {

RoutingTable::RoutingTable(const Topology& topology)
    : pop_count_(static_cast<int>(topology.pops.size())),
      region_count_(static_cast<int>(topology.regions.size())) {
  for (const Pop& p : topology.pops) {
    nodes_.push_back(LabNode{p.name, NodeKind::kPop, p.addresses, p.services});
  }
  for (const Region& r : topology.regions) {
    nodes_.push_back(LabNode{r.name, NodeKind::kRegion, r.addresses, {}});
  }
  nodes_.push_back(LabNode{topology.router.name, NodeKind::kRouter, topology.router.addresses, {}});
  for (NodeId n = 0; n < static_cast<NodeId>(nodes_.size()); ++n) {
    for (const IpAddress& a : nodes_[n].addresses) unicast_[a] = n;
    for (const IpAddress& s : nodes_[n].services) anycast_[s].push_back(n);
  }
  for (const Region& r : topology.regions) {
    std::vector<const Link*> links;
    for (const Link& l : topology.links) {
      if (l.region == r.name) links.push_back(&l);
    }
    std::stable_sort(links.begin(), links.end(), [](const Link* a, const Link* b) {
      return a->to_pop.delay < b->to_pop.delay;
    });
    std::vector<NodeId> pops;
    pops.reserve(links.size());
    for (const Link* l : links) pops.push_back(*FindNode(l->pop));
    linked_pops_.push_back(std::move(pops));
    const std::optional<NodeId> c = FindNode(r.catchment);
    catchment_.push_back(c ? *c : -1);
  }
}

std::optional<NodeId> RoutingTable::FindNode(absl::string_view name) const {
  for (NodeId n = 0; n < static_cast<NodeId>(nodes_.size()); ++n) {
    if (nodes_[n].name == name) return n;
  }
  return std::nullopt;
}

std::optional<NodeId> RoutingTable::Route(NodeId from, const IpAddress& destination) const {
  if (auto it = unicast_.find(destination); it != unicast_.end()) {
    if (it->second == from) return std::nullopt;
    return it->second;
  }
  auto it = anycast_.find(destination);
  if (it == anycast_.end() || !IsRegion(from)) return std::nullopt;
  const std::vector<NodeId>& serving = it->second;
  const int region = from - pop_count_;
  const NodeId catchment = catchment_[region];
  if (std::find(serving.begin(), serving.end(), catchment) != serving.end()) return catchment;
  for (NodeId pop : linked_pops_[region]) {
    if (std::find(serving.begin(), serving.end(), pop) != serving.end()) return pop;
  }
  return std::nullopt;
}

absl::Status RoutingTable::SetCatchment(absl::string_view region, absl::string_view pop) {
  const std::optional<NodeId> r = FindNode(region);
  if (!r || !IsRegion(*r))
    return absl::NotFoundError(absl::StrCat("no region named '", region, "'"));
  const std::optional<NodeId> p = FindNode(pop);
  if (!p || nodes_[*p].kind != NodeKind::kPop) {
    return absl::NotFoundError(absl::StrCat("no pop named '", pop, "'"));
  }
  const std::vector<NodeId>& linked = linked_pops_[*r - pop_count_];
  if (std::find(linked.begin(), linked.end(), *p) == linked.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("pop ", pop, " has no link to region ", region));
  }
  catchment_[*r - pop_count_] = *p;
  return absl::OkStatus();
}

NodeId RoutingTable::CatchmentOf(NodeId region) const { return catchment_[region - pop_count_]; }

}  // namespace vantage::lab
