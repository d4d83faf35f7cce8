// RoutingTable: which lab node a packet goes to. Unicast addresses belong to
// exactly one node; an anycast service address is served by several PoPs and
// a region reaches the one of its catchment (this is how the lab stands in
// for BGP's choice). When the catchment PoP does not serve an address, the
// region reaches the nearest linked PoP that does.
//
// Node ids: PoPs are [0, P) in topology order, regions [P, P+R), the router
// is P+R.
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/ip_address.h"
#include "lab/topology.h"

namespace vantage::lab {

using NodeId = int;

enum class NodeKind { kPop, kRegion, kRouter };

struct LabNode {
  std::string name;
  NodeKind kind;
  std::vector<IpAddress> addresses;  // unicast
  std::vector<IpAddress> services;   // anycast (PoPs only)
};

class RoutingTable {
 public:
  explicit RoutingTable(const Topology& topology);

  const std::vector<LabNode>& nodes() const { return nodes_; }
  std::optional<NodeId> FindNode(absl::string_view name) const;

  // The node a packet from `from` to `destination` is handed to, or nullopt
  // when nothing in the lab should receive it.
  std::optional<NodeId> Route(NodeId from, const IpAddress& destination) const;

  // Moves a region's catchment; the PoP must be linked to the region.
  [[nodiscard]] absl::Status SetCatchment(absl::string_view region, absl::string_view pop);
  // The catchment PoP of a region node.
  NodeId CatchmentOf(NodeId region) const;

 private:
  bool IsRegion(NodeId n) const { return n >= pop_count_ && n < pop_count_ + region_count_; }

  int pop_count_;
  int region_count_;
  std::vector<LabNode> nodes_;
  absl::flat_hash_map<IpAddress, NodeId> unicast_;
  absl::flat_hash_map<IpAddress, std::vector<NodeId>> anycast_;
  // Per region index: its catchment, and its linked PoPs nearest first.
  std::vector<NodeId> catchment_;
  std::vector<std::vector<NodeId>> linked_pops_;
};

}  // namespace vantage::lab
