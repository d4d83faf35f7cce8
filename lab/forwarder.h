// Forwarder: the emulator's data path without any I/O. Packets read from a
// node's device go in (Ingress) with the time they entered the link (the
// sending kernel's transmit time); the forwarder routes them (unicast, or
// anycast by catchment), passes them through the link direction between the
// two nodes (loss, bounded queue, delay) and holds them until their write
// time: the departure the link model gives them minus the write lead of the
// receiving node (SetWriteLead: how long before the departure a write must
// start for that node's kernel to receive the packet at the departure; zero
// until set), never out of FIFO order within a link direction. DeliverDue
// hands out every packet whose write time has come, in write-time order.
// The Emulator drives it from real devices and timers; tests drive it with a
// fake clock. It also keeps, per link direction, the distribution of the
// residual the Emulator measures (RecordResidual: kernel receive time minus
// departure).
//
// Links: every topology link (PoP <-> region, both directions) and one link
// between each PoP and the router. Packets between nodes without a link are
// dropped and counted as no_route.
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lab/link_direction.h"
#include "lab/residual_histogram.h"
#include "lab/routing_table.h"
#include "lab/topology.h"

namespace vantage::lab {

// Fields to change on a link direction; unset fields stay as they are.
struct LinkPatch {
  std::optional<absl::Duration> delay;
  std::optional<absl::Duration> jitter;
  std::optional<double> loss;
  std::optional<size_t> queue_limit;
};

struct LinkStatus {
  std::string from;
  std::string to;
  LinkParams params;
  LinkCounters counters;
  ResidualHistogram residual;
};

// The times of one packet handed out by DeliverDue.
struct DepartureTimes {
  int direction = -1;    // the link direction it crossed (RecordResidual's index)
  absl::Time departure;  // when the link model says the receiving node has it
  absl::Time write_at;   // when it was due to be written: departure minus the lead
  absl::Time read_at;    // when the emulator read it from the sending node
};

class Forwarder {
 public:
  enum class Verdict { kQueued, kDropped, kNoRoute, kMalformed };
  using DeliverFn = std::function<void(NodeId to, const std::vector<uint8_t>& packet,
                                       const DepartureTimes& times)>;

  Forwarder(const Topology& topology, uint64_t seed);

  // `now`: when the packet entered the link; `read_at`: when the emulator
  // read it (`now` when not given).
  Verdict Ingress(NodeId from, std::vector<uint8_t> packet, absl::Time now,
                  std::optional<absl::Time> read_at = std::nullopt);
  // The earliest write time of a held packet, or InfiniteFuture.
  absl::Time NextWrite() const;
  // Delivers every packet whose write time is at or before `now`; returns
  // how many.
  size_t DeliverDue(absl::Time now, const DeliverFn& deliver);

  // Packets admitted from now on towards `to` are written `lead` (>= 0)
  // before their departure.
  void SetWriteLead(NodeId to, absl::Duration lead);
  absl::Duration write_lead(NodeId to) const { return write_lead_[static_cast<size_t>(to)]; }
  // One delivered packet's kernel receive time minus its departure, on the
  // link direction `direction` (DepartureTimes::direction).
  void RecordResidual(int direction, absl::Duration residual);

  // Direction: "to_pop", "to_region" or "both".
  [[nodiscard]] absl::Status SetLink(absl::string_view pop, absl::string_view region,
                                     absl::string_view direction, const LinkPatch& patch);
  [[nodiscard]] absl::Status SetCatchment(absl::string_view region, absl::string_view pop) {
    return routing_.SetCatchment(region, pop);
  }

  const RoutingTable& routing() const { return routing_; }
  std::vector<LinkStatus> Links() const;
  uint64_t no_route() const { return no_route_; }
  uint64_t malformed() const { return malformed_; }
  size_t held() const { return in_flight_.size(); }

 private:
  struct InFlight {
    DepartureTimes times;
    uint64_t sequence;
    NodeId to;
    std::vector<uint8_t> packet;
  };
  // Orders the heap so the earliest write time (then the earliest admitted)
  // is on top.
  static bool Later(const InFlight& a, const InFlight& b) {
    return a.times.write_at > b.times.write_at ||
           (a.times.write_at == b.times.write_at && a.sequence > b.sequence);
  }

  int DirectionIndex(NodeId from, NodeId to) const {
    return direction_index_[static_cast<size_t>(from) * node_count_ + static_cast<size_t>(to)];
  }
  void AddDirection(NodeId from, NodeId to, const LinkParams& params);

  RoutingTable routing_;
  size_t node_count_;
  std::vector<int> direction_index_;  // node_count_^2, -1 without a link
  std::vector<LinkDirection> directions_;
  std::vector<std::pair<NodeId, NodeId>> direction_ends_;
  std::vector<absl::Time> last_write_at_;     // per direction, for FIFO order
  std::vector<ResidualHistogram> residuals_;  // per direction
  std::vector<absl::Duration> write_lead_;    // per receiving node
  std::vector<InFlight> in_flight_;           // a heap ordered by Later
  uint64_t next_sequence_ = 0;
  uint64_t no_route_ = 0;
  uint64_t malformed_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace vantage::lab
