#include "push/intended_state.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace vantage::push {

void Canonicalize(IntendedState& state) {
  for (auto& p : state.prefixes) {
    std::sort(p.routes.begin(), p.routes.end(),
              [](const PopRoute& a, const PopRoute& b) { return a.pop < b.pop; });
  }
  std::sort(state.prefixes.begin(), state.prefixes.end(),
            [](const PrefixIntent& a, const PrefixIntent& b) {
              return a.prefix.ToString() < b.prefix.ToString();
            });
}

absl::Status ValidateIntendedState(const IntendedState& state) {
  if (state.asn == 0 || state.asn > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("link-bandwidth needs a 2-byte ASN, got ", state.asn));
  }
  if (!std::isfinite(state.full_bandwidth_bytes_per_s) || state.full_bandwidth_bytes_per_s < 1 ||
      state.full_bandwidth_bytes_per_s > 3.4e38) {
    return absl::InvalidArgumentError("full_bandwidth_bytes_per_s must be in [1, 3.4e38]");
  }
  std::set<std::string> prefixes;
  for (const auto& p : state.prefixes) {
    const std::string text = p.prefix.ToString();
    if (!prefixes.insert(text).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate prefix ", text));
    }
    std::set<std::string> pops;
    double sum = 0;
    for (const auto& r : p.routes) {
      if (r.pop.empty() || !pops.insert(r.pop).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("prefix ", text, ": empty or duplicate pop '", r.pop, "'"));
      }
      if (!std::isfinite(r.weight) || r.weight < 0 || r.weight > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("prefix ", text, " pop ", r.pop, ": weight outside [0, 1]"));
      }
      if (r.next_hop.family() != p.prefix.family()) {
        return absl::InvalidArgumentError(
            absl::StrCat("prefix ", text, " pop ", r.pop, ": next hop of another family"));
      }
      sum += r.weight;
    }
    if (sum > 0 && std::abs(sum - 1.0) > 1e-6) {
      return absl::InvalidArgumentError(
          absl::StrFormat("prefix %s: weights sum to %.9f, not 1", text, sum));
    }
  }
  return absl::OkStatus();
}

uint64_t LinkBandwidth(const IntendedState& state, double weight) {
  if (weight <= 0) return 0;
  const double bw = std::round(weight * state.full_bandwidth_bytes_per_s);
  return bw < 1 ? 1 : static_cast<uint64_t>(bw);
}

namespace {

using RouteKey = std::pair<std::string, std::string>;  // prefix, pop

std::map<RouteKey, double> Weights(const IntendedState& s) {
  std::map<RouteKey, double> out;
  for (const auto& p : s.prefixes) {
    for (const auto& r : p.routes) out[{p.prefix.ToString(), r.pop}] = r.weight;
  }
  return out;
}

}  // namespace

std::vector<RouteChange> Diff(const IntendedState& from, const IntendedState& to) {
  auto a = Weights(from);
  auto b = Weights(to);
  std::set<RouteKey> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  std::vector<RouteChange> out;
  for (const auto& k : keys) {
    const double old_w = a.contains(k) ? a[k] : 0.0;
    const double new_w = b.contains(k) ? b[k] : 0.0;
    if (old_w != new_w) out.push_back({k.first, k.second, old_w, new_w});
  }
  return out;
}

std::string DiffText(const std::vector<RouteChange>& diff) {
  std::string out;
  for (const auto& c : diff) {
    const char* kind = c.old_weight == 0 ? "announce" : c.new_weight == 0 ? "withdraw" : "reweight";
    absl::StrAppendFormat(&out, "%s %s %.4f -> %.4f (%s)\n", c.prefix, c.pop, c.old_weight,
                          c.new_weight, kind);
  }
  return out;
}

bool CarriesTraffic(const IntendedState& state, const std::string& pop) {
  for (const PrefixIntent& p : state.prefixes) {
    for (const PopRoute& r : p.routes) {
      if (r.pop == pop && r.weight > 0) return true;
    }
  }
  return false;
}

double MaxWeightShift(const std::vector<RouteChange>& diff) {
  double m = 0;
  for (const auto& c : diff) m = std::max(m, std::abs(c.new_weight - c.old_weight));
  return m;
}

std::vector<std::string> PrefixesWithdrawnEverywhere(const IntendedState& state) {
  std::vector<std::string> out;
  for (const auto& p : state.prefixes) {
    bool any = false;
    for (const auto& r : p.routes) any = any || r.weight > 0;
    if (!any) out.push_back(p.prefix.ToString());
  }
  return out;
}

std::string IntendedStateToJson(const IntendedState& state, int indent) {
  nlohmann::json j;
  j["asn"] = state.asn;
  j["full_bandwidth_bytes_per_s"] = state.full_bandwidth_bytes_per_s;
  j["prefixes"] = nlohmann::json::array();
  for (const auto& p : state.prefixes) {
    nlohmann::json jp;
    jp["region"] = p.region;
    jp["prefix"] = p.prefix.ToString();
    jp["routes"] = nlohmann::json::array();
    for (const auto& r : p.routes) {
      jp["routes"].push_back({{"pop", r.pop},
                              {"neighbor", r.neighbor.ToString()},
                              {"next_hop", r.next_hop.ToString()},
                              {"weight", r.weight},
                              {"link_bandwidth", LinkBandwidth(state, r.weight)}});
    }
    j["prefixes"].push_back(std::move(jp));
  }
  return j.dump(indent);
}

absl::StatusOr<IntendedState> IntendedStateFromJson(absl::string_view text) {
  try {
    auto j = nlohmann::json::parse(text.begin(), text.end());
    IntendedState s;
    s.asn = j.at("asn").get<uint32_t>();
    s.full_bandwidth_bytes_per_s = j.at("full_bandwidth_bytes_per_s").get<double>();
    for (const auto& jp : j.at("prefixes")) {
      PrefixIntent p;
      p.region = jp.at("region").get<std::string>();
      auto prefix = Prefix::Parse(jp.at("prefix").get<std::string>());
      if (!prefix.ok()) return prefix.status();
      p.prefix = *prefix;
      for (const auto& jr : jp.at("routes")) {
        PopRoute r;
        r.pop = jr.at("pop").get<std::string>();
        auto nb = IpAddress::Parse(jr.at("neighbor").get<std::string>());
        if (!nb.ok()) return nb.status();
        auto nh = IpAddress::Parse(jr.at("next_hop").get<std::string>());
        if (!nh.ok()) return nh.status();
        r.neighbor = *nb;
        r.next_hop = *nh;
        r.weight = jr.at("weight").get<double>();
        p.routes.push_back(std::move(r));
      }
      s.prefixes.push_back(std::move(p));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("intended state JSON: ", e.what()));
  }
}

std::string Digest(absl::string_view bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  std::string out;
  for (unsigned char c : md) absl::StrAppendFormat(&out, "%02x", c);
  return out;
}

}  // namespace vantage::push
