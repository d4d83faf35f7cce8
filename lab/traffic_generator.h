// TrafficGenerator: client traffic for the lab, so the PoPs' passive capture
// has real TCP connections to see. Run inside a region's namespace, it opens
// TCP connections to the PoPs' listeners at a fixed rate and reads their
// banner; each connection goes to a next hop of the region's service prefix
// chosen in proportion to the router's FIB weights (re-read every
// `fib_refresh` from `ip -n <router ns> route show <prefix>`), so the lab's
// clients split their traffic the way the router's weighted ECMP would.
// Before the first route appears, it uses `fallback` (a PoP address).
//
// Bounded: at most `rate * duration` connections, `max_in_flight` open at
// once, each abandoned after `timeout`.
//
// Thread model: Run() blocks the calling thread; no other threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "lab/command_runner.h"

namespace vantage::lab {

struct TrafficOptions {
  std::string router_ns{};
  std::string service_prefix{};  // whose FIB next hops the connections follow
  std::optional<IpAddress> fallback{};
  uint16_t port = 80;
  double rate = 20;  // connections per second
  absl::Duration duration = absl::Seconds(10);
  absl::Duration timeout = absl::Seconds(1);
  absl::Duration fib_refresh = absl::Milliseconds(500);
  int max_in_flight = 256;
  uint64_t seed = 1;
};

struct TrafficCounts {
  uint64_t started = 0;
  uint64_t completed = 0;  // connected and read the banner to EOF
  uint64_t failed = 0;     // refused, unreachable or timed out
};

struct TrafficReport {
  std::map<std::string, TrafficCounts> by_destination;  // address -> counts
  uint64_t no_route = 0;  // connections not made: no FIB route and no fallback
};

absl::StatusOr<TrafficReport> RunTrafficGenerator(const TrafficOptions& options,
                                                  CommandRunner* runner);

}  // namespace vantage::lab
