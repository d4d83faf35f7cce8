#include "lab/forwarder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lab/packet_header.h"

namespace vantage::lab {

Forwarder::Forwarder(const Topology& topology, uint64_t seed)
    : routing_(topology), node_count_(routing_.nodes().size()), rng_(seed) {
  direction_index_.assign(node_count_ * node_count_, -1);
  write_lead_.assign(node_count_, absl::ZeroDuration());
  for (const Link& l : topology.links) {
    const NodeId pop = *routing_.FindNode(l.pop);
    const NodeId region = *routing_.FindNode(l.region);
    AddDirection(pop, region, l.to_region);
    AddDirection(region, pop, l.to_pop);
  }
  const NodeId router = static_cast<NodeId>(node_count_) - 1;
  for (size_t p = 0; p < topology.pops.size(); ++p) {
    AddDirection(static_cast<NodeId>(p), router, topology.router.link);
    AddDirection(router, static_cast<NodeId>(p), topology.router.link);
  }
}

void Forwarder::AddDirection(NodeId from, NodeId to, const LinkParams& params) {
  direction_index_[static_cast<size_t>(from) * node_count_ + static_cast<size_t>(to)] =
      static_cast<int>(directions_.size());
  directions_.emplace_back(params);
  direction_ends_.emplace_back(from, to);
  last_write_at_.push_back(absl::InfinitePast());
  residuals_.emplace_back();
}

void Forwarder::SetWriteLead(NodeId to, absl::Duration lead) {
  write_lead_[static_cast<size_t>(to)] = std::max(lead, absl::ZeroDuration());
}

void Forwarder::RecordResidual(int direction, absl::Duration residual) {
  if (direction < 0 || static_cast<size_t>(direction) >= residuals_.size()) return;
  residuals_[static_cast<size_t>(direction)].Add(residual);
}

Forwarder::Verdict Forwarder::Ingress(NodeId from, std::vector<uint8_t> packet, absl::Time now,
                                      std::optional<absl::Time> read_at) {
  const std::optional<PacketAddresses> addresses =
      ParsePacketAddresses(packet.data(), packet.size());
  if (!addresses) {
    ++malformed_;
    return Verdict::kMalformed;
  }
  const std::optional<NodeId> to = routing_.Route(from, addresses->destination);
  const int direction = to ? DirectionIndex(from, *to) : -1;
  if (direction < 0) {
    ++no_route_;
    return Verdict::kNoRoute;
  }
  const std::optional<absl::Time> departure = directions_[direction].Admit(now, rng_);
  if (!departure) return Verdict::kDropped;
  DepartureTimes times;
  times.direction = direction;
  times.departure = *departure;
  times.read_at = read_at.value_or(now);
  times.write_at = *departure - write_lead_[static_cast<size_t>(*to)];
  // A lead that grew since the previous packet must not pass it.
  if (!directions_[direction].params().allow_reorder) {
    times.write_at = std::max(times.write_at, last_write_at_[direction]);
  }
  last_write_at_[direction] = std::max(last_write_at_[direction], times.write_at);
  in_flight_.push_back(InFlight{times, next_sequence_++, *to, std::move(packet)});
  std::push_heap(in_flight_.begin(), in_flight_.end(), Later);
  return Verdict::kQueued;
}

absl::Time Forwarder::NextWrite() const {
  return in_flight_.empty() ? absl::InfiniteFuture() : in_flight_.front().times.write_at;
}

size_t Forwarder::DeliverDue(absl::Time now, const DeliverFn& deliver) {
  size_t delivered = 0;
  while (!in_flight_.empty() && in_flight_.front().times.write_at <= now) {
    std::pop_heap(in_flight_.begin(), in_flight_.end(), Later);
    InFlight item = std::move(in_flight_.back());
    in_flight_.pop_back();
    directions_[item.times.direction].Departed();
    deliver(item.to, item.packet, item.times);
    ++delivered;
  }
  return delivered;
}

absl::Status Forwarder::SetLink(absl::string_view pop, absl::string_view region,
                                absl::string_view direction, const LinkPatch& patch) {
  const std::optional<NodeId> p = routing_.FindNode(pop);
  const std::optional<NodeId> r = routing_.FindNode(region);
  if (!p || routing_.nodes()[*p].kind != NodeKind::kPop) {
    return absl::NotFoundError(absl::StrCat("no pop named '", pop, "'"));
  }
  if (!r || routing_.nodes()[*r].kind == NodeKind::kPop) {
    return absl::NotFoundError(absl::StrCat("no region (or router) named '", region, "'"));
  }
  std::vector<int> selected;
  if (direction == "to_pop" || direction == "both") selected.push_back(DirectionIndex(*r, *p));
  if (direction == "to_region" || direction == "both") selected.push_back(DirectionIndex(*p, *r));
  if (selected.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("direction must be to_pop, to_region or both, not '", direction, "'"));
  }
  if (selected.front() < 0) {
    return absl::NotFoundError(absl::StrCat("no link between ", pop, " and ", region));
  }
  if (patch.loss && (*patch.loss < 0 || *patch.loss > 1)) {
    return absl::InvalidArgumentError("loss must be in [0, 1]");
  }
  if ((patch.delay && *patch.delay < absl::ZeroDuration()) ||
      (patch.jitter && *patch.jitter < absl::ZeroDuration())) {
    return absl::InvalidArgumentError("delay and jitter must not be negative");
  }
  if (patch.queue_limit && *patch.queue_limit == 0) {
    return absl::InvalidArgumentError("queue_limit must be at least 1");
  }
  for (int d : selected) {
    LinkParams params = directions_[d].params();
    if (patch.delay) params.delay = *patch.delay;
    if (patch.jitter) params.jitter = *patch.jitter;
    if (patch.loss) params.loss = *patch.loss;
    if (patch.queue_limit) params.queue_limit = *patch.queue_limit;
    directions_[d].SetParams(params);
  }
  return absl::OkStatus();
}

std::vector<LinkStatus> Forwarder::Links() const {
  std::vector<LinkStatus> out;
  out.reserve(directions_.size());
  for (size_t i = 0; i < directions_.size(); ++i) {
    const auto& [from, to] = direction_ends_[i];
    out.push_back(LinkStatus{routing_.nodes()[from].name, routing_.nodes()[to].name,
                             directions_[i].params(), directions_[i].counters(), residuals_[i]});
  }
  return out;
}

}  // namespace vantage::lab
