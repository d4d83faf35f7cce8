#include "graph/snapshot_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "graph/instance_generator.h"

namespace vantage::graph {
namespace {

void ExpectSameGraph(const AnycastGraph& a, const AnycastGraph& b) {
  ASSERT_EQ(a.pop_count(), b.pop_count());
  ASSERT_EQ(a.region_count(), b.region_count());
  for (PopId p = 0; p < a.pop_count(); ++p) EXPECT_EQ(a.pop(p), b.pop(p));
  for (RegionId r = 0; r < a.region_count(); ++r) EXPECT_EQ(a.region(r), b.region(r));
  ASSERT_EQ(a.path_count(), b.path_count());
  const auto pa = a.AllPaths();
  const auto pb = b.AllPaths();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(*pa[i], *pb[i]);
  EXPECT_EQ(a.snapshot_time(), b.snapshot_time());
  EXPECT_EQ(a.freshness(), b.freshness());
}

TEST(SnapshotJsonTest, RoundTripsExactly) {
  AnycastGraph g = GenerateInstance(
      {.regions = 300, .pops = 15, .paths_per_region = 5, .with_current_weights = true, .seed = 3});
  // Awkward doubles must survive bit for bit.
  ASSERT_TRUE(g.SetPopCapacity(0, 0.1 + 0.2).ok());
  ASSERT_TRUE(g.SetRegionDemand(0, 1.0 / 3.0).ok());
  ASSERT_TRUE(g.SetPopHealthy(1, false).ok());
  ASSERT_TRUE(g.SetCatchment(g.PathsOfRegion(0)[0]->pop, 0, "ams-nsid-1").ok());
  ASSERT_TRUE(g.SetCurrentWeights(2, {{0, 1.0 / 3.0}, {1, 2.0 / 3.0}}).ok());
  const std::string json = SnapshotToJson(g);
  auto back = SnapshotFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameGraph(g, *back);
  EXPECT_EQ(SnapshotToJson(*back), json);
  EXPECT_EQ(SnapshotToJson(*back, -1), SnapshotToJson(g, -1));
}

TEST(SnapshotJsonTest, ExampleSnapshotLoads) {
  auto g = ReadSnapshotFile(VANTAGE_GRAPH_TESTDATA "/lab_snapshot.json");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_GE(g->pop_count(), 3);
  EXPECT_GE(g->region_count(), 3);
  EXPECT_GT(g->path_count(), 0u);
}

TEST(SnapshotJsonTest, RejectsBadInput) {
  const std::string good = SnapshotToJson(GenerateInstance({.regions = 3, .pops = 2}));
  ASSERT_TRUE(SnapshotFromJson(good).ok());
  struct Case {
    std::string from, to, error;
  };
  const std::vector<Case> cases = {
      {"vantage.snapshot.v1", "vantage.snapshot.v0", "format"},
      {"\"capacity\"", "\"capacty\"", "unknown key"},
      {"\"healthy\": true", "\"healthy\": 1", "healthy"},
      {"\"method\": \"icmp\"", "\"method\": \"smoke\"", "unknown method"},
      {"\"method\": \"tcp\"", "\"method\": \"smoke\"", "unknown method"},
  };
  for (const Case& c : cases) {
    std::string bad = good;
    const size_t at = bad.find(c.from);
    if (at == std::string::npos) continue;
    bad.replace(at, c.from.size(), c.to);
    auto g = SnapshotFromJson(bad);
    EXPECT_FALSE(g.ok()) << c.to;
    EXPECT_THAT(std::string(g.status().message()), ::testing::HasSubstr(c.error));
  }
  EXPECT_FALSE(SnapshotFromJson("").ok());
  EXPECT_FALSE(SnapshotFromJson("[]").ok());
  EXPECT_FALSE(SnapshotFromJson("{\"format\": \"vantage.snapshot.v1\"}").ok());
  EXPECT_FALSE(SnapshotFromJson(R"({"format":"vantage.snapshot.v1","snapshot_time_unix_ns":1,
    "pops":[{"name":"a","capacity":1}],"regions":[{"name":"r","demand":1}],
    "paths":[{"pop":"a","region":"r","measurements":[]}]})")
                   .ok());
  EXPECT_FALSE(SnapshotFromJson(R"({"format":"vantage.snapshot.v1","snapshot_time_unix_ns":1,
    "pops":[{"name":"a","capacity":1}],"regions":[{"name":"r","demand":1,
    "current_weights":{"a":0.5}}],"paths":[]})")
                   .ok());
}

}  // namespace
}  // namespace vantage::graph
