// Small IntendedStates for push tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "push/intended_state.h"

namespace vantage::push::testing {

inline IpAddress Ip(const std::string& s) { return *IpAddress::Parse(s); }

// One prefix, PoPs "a", "b" (and "c") with the given weights.
inline IntendedState TwoPops(double a, double b, const std::string& prefix = "198.18.100.0/24") {
  IntendedState s;
  s.asn = 65001;
  s.full_bandwidth_bytes_per_s = 1000;
  PrefixIntent p;
  p.region = "eu";
  p.prefix = *Prefix::Parse(prefix);
  const bool v6 = p.prefix.family() == AddressFamily::kIPv6;
  p.routes.push_back({"a", Ip("198.18.1.1"), Ip(v6 ? "2001:db8:1::2" : "198.18.1.2"), a});
  p.routes.push_back({"b", Ip("198.18.2.1"), Ip(v6 ? "2001:db8:2::2" : "198.18.2.2"), b});
  s.prefixes.push_back(std::move(p));
  return s;
}

}  // namespace vantage::push::testing
