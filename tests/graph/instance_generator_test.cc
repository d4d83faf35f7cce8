#include "graph/instance_generator.h"

#include <gtest/gtest.h>

#include "graph/snapshot_json.h"

namespace vantage::graph {
namespace {

TEST(InstanceGeneratorTest, DeterministicBySeed) {
  InstanceConfig c{.regions = 200, .pops = 12, .paths_per_region = 6, .seed = 7};
  const std::string a = SnapshotToJson(GenerateInstance(c));
  const std::string b = SnapshotToJson(GenerateInstance(c));
  EXPECT_EQ(a, b);
  c.seed = 8;
  EXPECT_NE(a, SnapshotToJson(GenerateInstance(c)));
}

TEST(InstanceGeneratorTest, ShapeAndScale) {
  InstanceConfig c{.regions = 2000, .pops = 40, .paths_per_region = 8, .capacity_factor = 1.5};
  AnycastGraph g = GenerateInstance(c);
  EXPECT_EQ(g.region_count(), 2000);
  EXPECT_EQ(g.pop_count(), 40);
  EXPECT_EQ(g.path_count(), 2000u * 8);
  double demand = 0, capacity = 0, max_demand = 0;
  for (RegionId r = 0; r < g.region_count(); ++r) {
    demand += g.region(r).demand;
    max_demand = std::max(max_demand, g.region(r).demand);
    EXPECT_GE(g.region(r).demand, c.min_demand);
  }
  for (PopId p = 0; p < g.pop_count(); ++p) capacity += g.pop(p).capacity;
  EXPECT_NEAR(capacity / demand, 1.5, 1e-9);
  // Heavy tail: the largest region is far above the mean.
  EXPECT_GT(max_demand, 10 * demand / 2000);
  // Nearest PoPs are measured, and RTT grows with distance.
  for (RegionId r = 0; r < 50; ++r) {
    for (const Path* p : g.PathsOfRegion(r)) {
      const Measurement& m = p->measurements.front();
      const double km = GreatCircleKm(g.region(r).latitude, g.region(r).longitude,
                                      g.pop(p->pop).latitude, g.pop(p->pop).longitude);
      EXPECT_GE(m.rtt_p50_ms, km / 100 * 1.2);
      EXPECT_LE(m.rtt_p50_ms, km / 100 * 2.0 + 8.0);
    }
  }
}

TEST(InstanceGeneratorTest, GreatCircle) {
  // Amsterdam - New York is about 5,860 km.
  EXPECT_NEAR(GreatCircleKm(52.37, 4.90, 40.71, -74.01), 5860, 30);
  EXPECT_DOUBLE_EQ(GreatCircleKm(10, 20, 10, 20), 0);
}

}  // namespace
}  // namespace vantage::graph
