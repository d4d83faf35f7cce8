// IntendedState: what every PoP should announce for every region's anycast
// service prefix, and the helpers shared by adapters and guardrails.
//
// For each service prefix (IPv4 or IPv6) each PoP has a weight in [0, 1];
// the weights of one prefix sum to 1 (or are all 0, which guardrails
// refuse). A weight > 0 is announced from that PoP's BGP session with the
// link-bandwidth extended community `bandwidth:<asn>:<bytes/s>` where
// bytes/s = round(weight * full_bandwidth_bytes_per_s) (at least 1), so the
// routers' weighted ECMP splits traffic in proportion to the weights. A
// weight of 0 means the PoP withdraws the prefix.
//
// Thread model: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ip_address.h"

namespace vantage::push {

struct PopRoute {
  std::string pop{};
  IpAddress neighbor{};  // the router's address on this PoP's BGP session
  IpAddress next_hop{};  // the PoP's next hop for the prefix
  double weight = 0;     // 0 = withdraw
  friend bool operator==(const PopRoute&, const PopRoute&) = default;
};

struct PrefixIntent {
  std::string region{};
  Prefix prefix{};
  std::vector<PopRoute> routes{};  // one per PoP, sorted by pop name
  friend bool operator==(const PrefixIntent&, const PrefixIntent&) = default;
};

struct IntendedState {
  uint32_t asn = 65000;  // 2-byte ASN put in the link-bandwidth community
  // bytes/s announced for weight 1 (default 10 Gbit/s).
  double full_bandwidth_bytes_per_s = 1.25e9;
  std::vector<PrefixIntent> prefixes{};  // sorted by prefix text
  friend bool operator==(const IntendedState&, const IntendedState&) = default;
};

// Sorts prefixes and routes into canonical order.
void Canonicalize(IntendedState& state);

// Errors: ASN above 65535, bad bandwidth, duplicate prefix or PoP, weights
// outside [0, 1] or not summing to 1 (within 1e-6) when any is > 0, a next
// hop or neighbor of another family than the prefix... (the neighbor may be
// of either family: IPv6 routes may ride an IPv4 session).
absl::Status ValidateIntendedState(const IntendedState& state);

// The link-bandwidth value for a weight (0 for weight 0).
uint64_t LinkBandwidth(const IntendedState& state, double weight);

// One change between two states, per (prefix, pop).
struct RouteChange {
  std::string prefix{};
  std::string pop{};
  double old_weight = 0;
  double new_weight = 0;
  friend bool operator==(const RouteChange&, const RouteChange&) = default;
};

// Changes from `from` to `to`, sorted by (prefix, pop). A route missing on
// one side counts as weight 0.
std::vector<RouteChange> Diff(const IntendedState& from, const IntendedState& to);
// One line per change: "<prefix> <pop> 0.2500 -> 0.5000 (reweight|announce|withdraw)".
std::string DiffText(const std::vector<RouteChange>& diff);

// Largest |new - old| weight over all changes (0 when there are none).
double MaxWeightShift(const std::vector<RouteChange>& diff);

// Whether `state` gives `pop` a non-zero weight for some prefix.
bool CarriesTraffic(const IntendedState& state, const std::string& pop);

// Prefixes whose every weight is 0 in `state` (withdrawn everywhere).
std::vector<std::string> PrefixesWithdrawnEverywhere(const IntendedState& state);

// JSON (nlohmann) round trip; the JSON file adapter's format:
// {"asn":65000,"full_bandwidth_bytes_per_s":1.25e9,"prefixes":[{"region":..,
//  "prefix":"198.18.100.0/24","routes":[{"pop":..,"neighbor":..,"next_hop":..,
//  "weight":0.75,"link_bandwidth":937500000}]}]}
std::string IntendedStateToJson(const IntendedState& state, int indent = 2);
absl::StatusOr<IntendedState> IntendedStateFromJson(absl::string_view text);

// SHA-256 hex of the canonical JSON (for audit records).
std::string Digest(absl::string_view bytes);

}  // namespace vantage::push
