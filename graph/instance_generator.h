// InstanceGenerator: realistic synthetic AnycastGraphs for tests, benchmarks
// and `vantagectl generate`. Deterministic: the same config (incl. seed)
// gives the same graph, bit for bit, on every platform (own PRNG transforms,
// no std:: distributions).
//
// Model: PoPs and regions are scattered around a fixed list of metro areas
// (PoPs tightly, regions more widely); region demand is Pareto distributed
// (heavy tail); each region is measured from its `paths_per_region` nearest
// PoPs; RTT p50 = great-circle fibre delay x path inflation + access delay,
// tails and loss drawn per path (a minority of lossy paths), some paths with
// DNS timings, thin or old samples. Capacities are spread over PoPs with
// random shares and scaled so that total capacity = capacity_factor x total
// demand.
//
// Thread model: stateless function; safe from any thread.
#pragma once

#include <cstdint>

#include "absl/time/time.h"
#include "graph/anycast_graph.h"

namespace vantage::graph {

struct InstanceConfig {
  int regions = 100;
  int pops = 10;
  int paths_per_region = 16;     // nearest PoPs that measure each region
  double capacity_factor = 2.0;  // total capacity / total demand
  double pareto_alpha = 1.3;     // demand tail index (smaller = heavier)
  double min_demand = 1.0;
  double lossy_path_fraction = 0.1;
  bool with_current_weights = false;  // each region on its nearest PoP
  uint64_t seed = 1;
  absl::Time snapshot_time = absl::FromUnixSeconds(1'700'000'000);
};

AnycastGraph GenerateInstance(const InstanceConfig& config);

// Great-circle distance in km between two (lat, lon) points in degrees.
double GreatCircleKm(double lat1, double lon1, double lat2, double lon2);

}  // namespace vantage::graph
