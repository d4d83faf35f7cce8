// Topology: what a lab is made of — PoPs, client regions, one router and the
// emulated links between them — as read from a topology YAML file.
//
// A link joins one PoP and one region and has parameters per direction. Every
// PoP is also joined to the router by a link (router_link), so that BGP
// sessions from the PoPs to the router can run over the emulated network.
// Names are unique across PoPs, regions and the router; they become network
// namespace names (after a prefix) and NSIDs.
//
// Thread model: plain values; safe to share once built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/ip_address.h"

namespace vantage::lab {

// Two-state burst loss (Gilbert-Elliott): before each packet the state moves
// good->bad with p_good_to_bad and bad->good with p_bad_to_good; the packet
// is then lost with the state's loss probability.
struct GilbertElliottParams {
  double p_good_to_bad = 0.0;
  double p_bad_to_good = 1.0;
  double loss_good = 0.0;
  double loss_bad = 1.0;

  // The long-run loss rate of the chain.
  double StationaryLoss() const;
  friend bool operator==(const GilbertElliottParams&, const GilbertElliottParams&) = default;
};

// One direction of a link.
struct LinkParams {
  // One-way delay.
  absl::Duration delay = absl::ZeroDuration();
  // Each packet's delay is delay + U(-jitter, +jitter), never below zero.
  // Without allow_reorder a packet never leaves before the one ahead of it,
  // so jitter then only stretches gaps.
  absl::Duration jitter = absl::ZeroDuration();
  // Independent (Bernoulli) loss probability per packet, in [0, 1].
  double loss = 0.0;
  // Burst loss on top of the Bernoulli loss, when present.
  std::optional<GilbertElliottParams> gilbert_elliott;
  // Packets waiting in this direction; more are dropped (and counted).
  size_t queue_limit = 1000;
  bool allow_reorder = false;

  friend bool operator==(const LinkParams&, const LinkParams&) = default;
};

struct Pop {
  std::string name;
  double capacity = 0.0;
  // Unicast addresses of the PoP host (first IPv4 one is its source address).
  std::vector<IpAddress> addresses;
  // Anycast service addresses: the same address may be served by many PoPs.
  std::vector<IpAddress> services;
};

struct Region {
  std::string name;
  std::vector<IpAddress> addresses;
  double demand = 0.0;
  // The PoP whose anycast instances this region reaches (its BGP catchment).
  std::string catchment;
};

struct Router {
  std::string name = "router";
  std::vector<IpAddress> addresses;
  // Both directions of every PoP<->router link.
  LinkParams link;
};

struct Link {
  std::string pop;
  std::string region;
  LinkParams to_region;  // PoP -> region
  LinkParams to_pop;     // region -> PoP
};

struct ServiceOptions {
  uint16_t dns_port = 53;
  uint16_t tcp_port = 80;
  std::string dns_zone = "lab.vantage.test";
};

struct Topology {
  std::vector<Pop> pops;
  std::vector<Region> regions;
  Router router;
  std::vector<Link> links;
  ServiceOptions services;

  const Pop* FindPop(absl::string_view name) const;
  const Region* FindRegion(absl::string_view name) const;
  const Link* FindLink(absl::string_view pop, absl::string_view region) const;
};

// Parses and validates a topology. `file_name` is used in error messages,
// which read "<file>:<line>:<column>: <what is wrong>".
absl::StatusOr<Topology> ParseTopology(absl::string_view yaml_text, absl::string_view file_name);
absl::StatusOr<Topology> LoadTopology(const std::string& path);

}  // namespace vantage::lab
