#include "graph/instance_generator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_format.h"

namespace vantage::graph {

namespace {

// SplitMix64: tiny, well-mixed and identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // [0, 1)
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal (Box-Muller).
  double Normal() {
    const double u1 = 1.0 - Uniform();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  size_t Index(size_t n) { return static_cast<size_t>(Uniform() * static_cast<double>(n)); }

 private:
  uint64_t state_;
};

struct Metro {
  const char* code;
  double lat;
  double lon;
  double weight;  // relative population of users
};

// Approximate coordinates of large metro areas (public geography).
constexpr Metro kMetros[] = {
    {"nyc", 40.7, -74.0, 5},  {"lax", 34.1, -118.2, 4}, {"chi", 41.9, -87.6, 3},
    {"dfw", 32.8, -96.8, 3},  {"mia", 25.8, -80.2, 2},  {"sea", 47.6, -122.3, 2},
    {"yyz", 43.7, -79.4, 2},  {"mex", 19.4, -99.1, 4},  {"gru", -23.5, -46.6, 5},
    {"eze", -34.6, -58.4, 2}, {"scl", -33.4, -70.7, 1}, {"bog", 4.7, -74.1, 2},
    {"lhr", 51.5, -0.1, 4},   {"ams", 52.4, 4.9, 2},    {"fra", 50.1, 8.7, 3},
    {"cdg", 48.9, 2.4, 3},    {"mad", 40.4, -3.7, 2},   {"mxp", 45.5, 9.2, 2},
    {"waw", 52.2, 21.0, 2},   {"sto", 59.3, 18.1, 1},   {"ist", 41.0, 29.0, 3},
    {"dxb", 25.2, 55.3, 2},   {"cai", 30.0, 31.2, 3},   {"jnb", -26.2, 28.0, 2},
    {"los", 6.5, 3.4, 3},     {"nbo", -1.3, 36.8, 1},   {"bom", 19.1, 72.9, 5},
    {"del", 28.6, 77.2, 5},   {"sin", 1.35, 103.8, 2},  {"hkg", 22.3, 114.2, 3},
    {"nrt", 35.7, 139.7, 5},  {"icn", 37.6, 127.0, 3},  {"pek", 39.9, 116.4, 4},
    {"syd", -33.9, 151.2, 2}, {"akl", -36.8, 174.8, 1}, {"cgk", -6.2, 106.8, 4},
};

const Metro& PickMetro(Rng& rng) {
  double total = 0;
  for (const Metro& m : kMetros) total += m.weight;
  double x = rng.Uniform() * total;
  for (const Metro& m : kMetros) {
    x -= m.weight;
    if (x < 0) return m;
  }
  return kMetros[0];
}

double Clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

}  // namespace

double GreatCircleKm(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kEarthRadiusKm = 6371.0;
  constexpr double kRad = M_PI / 180.0;
  const double dlat = (lat2 - lat1) * kRad;
  const double dlon = (lon2 - lon1) * kRad;
  const double a =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(a)));
}

AnycastGraph GenerateInstance(const InstanceConfig& config) {
  Rng rng(config.seed);
  AnycastGraph g;
  g.set_snapshot_time(config.snapshot_time);

  // PoPs: near metros, with random capacity shares.
  std::vector<double> shares;
  std::vector<Pop> pops;
  for (int i = 0; i < config.pops; ++i) {
    const Metro& m = kMetros[static_cast<size_t>(i) % std::size(kMetros)];
    Pop p;
    p.name = absl::StrFormat("%s%d", m.code, i / static_cast<int>(std::size(kMetros)) + 1);
    p.latitude = Clamp(m.lat + rng.Normal() * 0.5, -89, 89);
    p.longitude = m.lon + rng.Normal() * 0.5;
    shares.push_back(std::exp(rng.Normal() * 0.5));
    pops.push_back(std::move(p));
  }

  std::vector<Region> regions;
  double total_demand = 0;
  for (int i = 0; i < config.regions; ++i) {
    const Metro& m = PickMetro(rng);
    Region r;
    r.name = absl::StrFormat("r%05d-%s", i, m.code);
    r.latitude = Clamp(m.lat + rng.Normal() * 4.0, -89, 89);
    r.longitude = m.lon + rng.Normal() * 4.0;
    // Pareto(alpha, min): heavy-tailed, capped so one region cannot exceed
    // the whole network.
    const double u = 1.0 - rng.Uniform();
    r.demand = std::min(config.min_demand * std::pow(u, -1.0 / config.pareto_alpha),
                        config.min_demand * 1e4);
    // One /24 per region out of 198.18.0.0/15 (wraps for huge instances).
    const auto block = static_cast<uint32_t>(i % 512);
    r.prefixes.push_back(Prefix(IpAddress::V4((198u << 24) | (18u << 16) | (block << 8)), 24));
    total_demand += r.demand;
    regions.push_back(std::move(r));
  }

  const double share_sum = std::accumulate(shares.begin(), shares.end(), 0.0);
  for (size_t i = 0; i < pops.size(); ++i) {
    pops[i].capacity = config.capacity_factor * total_demand * shares[i] / share_sum;
    (void)g.AddPop(pops[i]);
  }

  const int per_region = std::min(config.paths_per_region, config.pops);
  std::vector<std::pair<double, PopId>> dist(pops.size());
  for (size_t ri = 0; ri < regions.size(); ++ri) {
    Region& r = regions[ri];
    for (size_t p = 0; p < pops.size(); ++p) {
      dist[p] = {GreatCircleKm(r.latitude, r.longitude, pops[p].latitude, pops[p].longitude),
                 static_cast<PopId>(p)};
    }
    std::partial_sort(dist.begin(), dist.begin() + per_region, dist.end());
    if (config.with_current_weights && per_region > 0) {
      r.current_weights.push_back({dist[0].second, 1.0});
    }
    const RegionId rid = *g.AddRegion(r);
    for (int k = 0; k < per_region; ++k) {
      const double km = dist[static_cast<size_t>(k)].first;
      const PopId pid = dist[static_cast<size_t>(k)].second;
      // Fibre: ~100 km per ms of RTT; paths are longer than great circles.
      const double inflation = rng.Uniform(1.2, 2.0);
      const double access = rng.Uniform(1.0, 8.0);
      Measurement m;
      m.method = rng.Uniform() < 0.5 ? Method::kIcmp : Method::kTcp;
      m.rtt_p50_ms = km / 100.0 * inflation + access;
      m.rtt_p90_ms = m.rtt_p50_ms * rng.Uniform(1.02, 1.3);
      m.rtt_p99_ms = m.rtt_p90_ms * rng.Uniform(1.05, 2.0);
      m.loss = rng.Uniform() < config.lossy_path_fraction ? rng.Uniform(0.002, 0.05)
                                                          : rng.Uniform(0.0, 0.001);
      m.samples = 20 + static_cast<uint64_t>(rng.Uniform() * 2000);
      const double age_s = rng.Uniform() < 0.05 ? rng.Uniform(120, 600) : rng.Uniform(0, 60);
      m.updated = config.snapshot_time - absl::Milliseconds(std::floor(age_s * 1000));
      (void)g.RecordMeasurement(pid, rid, m);
      if (rng.Uniform() < 0.3) {
        Measurement dns;
        dns.method = Method::kDns;
        dns.rtt_p50_ms = m.rtt_p50_ms;
        dns.rtt_p90_ms = m.rtt_p90_ms;
        dns.rtt_p99_ms = m.rtt_p99_ms;
        dns.loss = m.loss;
        dns.dns_ms = m.rtt_p50_ms + rng.Uniform(0.2, 3.0);
        dns.samples = 10 + static_cast<uint64_t>(rng.Uniform() * 200);
        dns.updated = m.updated;
        (void)g.RecordMeasurement(pid, rid, dns);
      }
    }
  }
  return g;
}

}  // namespace vantage::graph
