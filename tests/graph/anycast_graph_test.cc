#include "graph/anycast_graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vantage::graph {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Measurement Rtt(double p50, absl::Time updated, uint64_t samples = 100,
                Method method = Method::kIcmp) {
  Measurement m;
  m.method = method;
  m.rtt_p50_ms = p50;
  m.rtt_p90_ms = p50 * 1.2;
  m.rtt_p99_ms = p50 * 1.5;
  m.samples = samples;
  m.updated = updated;
  return m;
}

class AnycastGraphTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ams_ = *g_.AddPop({.name = "ams", .capacity = 100});
    fra_ = *g_.AddPop({.name = "fra", .capacity = 50});
    nl_ = *g_.AddRegion({.name = "nl", .demand = 10});
  }
  AnycastGraph g_;
  PopId ams_ = 0, fra_ = 0;
  RegionId nl_ = 0;
};

TEST_F(AnycastGraphTest, IdsAreDenseAndNamesUnique) {
  EXPECT_EQ(ams_, 0);
  EXPECT_EQ(fra_, 1);
  EXPECT_EQ(g_.FindPop("fra"), fra_);
  EXPECT_EQ(g_.FindRegion("nl"), nl_);
  EXPECT_FALSE(g_.FindPop("nope").has_value());
  EXPECT_EQ(g_.AddPop({.name = "ams", .capacity = 1}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(g_.AddPop({.name = "x", .capacity = -1}).ok());
  EXPECT_FALSE(g_.AddRegion({.name = "", .demand = 1}).ok());
}

TEST_F(AnycastGraphTest, MissingPathIsExplicit) {
  EXPECT_EQ(g_.FindPath(ams_, nl_), nullptr);
  EXPECT_TRUE(g_.PathsOfRegion(nl_).empty());
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0)).ok());
  ASSERT_NE(g_.FindPath(ams_, nl_), nullptr);
  EXPECT_EQ(g_.FindPath(fra_, nl_), nullptr);
  EXPECT_EQ(g_.path_count(), 1u);
}

TEST_F(AnycastGraphTest, KeepsLatestMeasurementPerMethod) {
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0)).ok());
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(7, kT0 + absl::Seconds(1))).ok());
  // Older than the stored one: ignored.
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(9, kT0 - absl::Seconds(1))).ok());
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(6, kT0, 10, Method::kTcp)).ok());
  const Path* p = g_.FindPath(ams_, nl_);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->measurements.size(), 2u);
  EXPECT_EQ(p->measurements[0].method, Method::kIcmp);
  EXPECT_EQ(p->measurements[0].rtt_p50_ms, 7);
  EXPECT_EQ(p->measurements[1].method, Method::kTcp);
}

TEST_F(AnycastGraphTest, RejectsBadMeasurements) {
  Measurement m = Rtt(5, kT0);
  m.rtt_p90_ms = 4;  // below the median
  EXPECT_FALSE(g_.RecordMeasurement(ams_, nl_, m).ok());
  m = Rtt(5, kT0);
  m.loss = 1.5;
  EXPECT_FALSE(g_.RecordMeasurement(ams_, nl_, m).ok());
  EXPECT_FALSE(g_.RecordMeasurement(7, nl_, Rtt(5, kT0)).ok());
  EXPECT_EQ(g_.FindPath(ams_, nl_), nullptr);
}

TEST_F(AnycastGraphTest, FreshnessDecaysAndExpires) {
  g_.set_freshness({.half_life = absl::Minutes(1), .expiry = absl::Minutes(5)});
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0, 100)).ok());
  ASSERT_TRUE(g_.RecordMeasurement(fra_, nl_, Rtt(9, kT0 + absl::Minutes(4), 100)).ok());
  const Measurement& m = g_.FindPath(ams_, nl_)->measurements[0];
  EXPECT_DOUBLE_EQ(g_.FreshSamples(m, kT0), 100);
  EXPECT_DOUBLE_EQ(g_.FreshSamples(m, kT0 + absl::Minutes(1)), 50);
  EXPECT_DOUBLE_EQ(g_.FreshSamples(m, kT0 + absl::Minutes(2)), 25);
  EXPECT_EQ(g_.ExpireStale(kT0 + absl::Minutes(5)), 0);  // exactly at expiry: kept
  EXPECT_EQ(g_.ExpireStale(kT0 + absl::Minutes(6)), 1);
  EXPECT_EQ(g_.FindPath(ams_, nl_), nullptr);  // expired -> missing
  EXPECT_NE(g_.FindPath(fra_, nl_), nullptr);
  EXPECT_EQ(g_.path_count(), 1u);
}

// PathsOfRegion() (a per-region list kept beside the Boost graph) stays in
// step with the edges: sorted by pop, through insertions in any order,
// expiry and copies (whose paths are the copy's own).
TEST_F(AnycastGraphTest, PathsOfRegionFollowsEdges) {
  const PopId lhr = *g_.AddPop({.name = "lhr", .capacity = 10});
  const RegionId de = *g_.AddRegion({.name = "de", .demand = 1});
  g_.set_freshness({.half_life = absl::Minutes(1), .expiry = absl::Minutes(5)});
  ASSERT_TRUE(g_.RecordMeasurement(lhr, nl_, Rtt(3, kT0 + absl::Minutes(4))).ok());
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0)).ok());
  ASSERT_TRUE(g_.RecordMeasurement(fra_, nl_, Rtt(9, kT0 + absl::Minutes(4))).ok());
  ASSERT_TRUE(g_.RecordMeasurement(fra_, de, Rtt(4, kT0)).ok());
  auto pops_of = [](const AnycastGraph& g, RegionId r) {
    std::vector<PopId> out;
    for (const Path* p : g.PathsOfRegion(r)) {
      EXPECT_EQ(p, g.FindPath(p->pop, r));
      out.push_back(p->pop);
    }
    return out;
  };
  EXPECT_THAT(pops_of(g_, nl_), ::testing::ElementsAre(ams_, fra_, lhr));
  EXPECT_THAT(pops_of(g_, de), ::testing::ElementsAre(fra_));
  AnycastGraph copy = g_;
  EXPECT_EQ(g_.ExpireStale(kT0 + absl::Minutes(6)), 2);  // ams -> nl, fra -> de
  EXPECT_THAT(pops_of(g_, nl_), ::testing::ElementsAre(fra_, lhr));
  EXPECT_TRUE(pops_of(g_, de).empty());
  EXPECT_THAT(pops_of(copy, nl_), ::testing::ElementsAre(ams_, fra_, lhr));
  EXPECT_EQ(copy.PathsOfRegion(de)[0]->measurements[0].rtt_p50_ms, 4);
  EXPECT_TRUE(g_.PathsOfRegion(99).empty());
}

TEST_F(AnycastGraphTest, CurrentWeightsValidated) {
  EXPECT_TRUE(g_.SetCurrentWeights(nl_, {{fra_, 0.25}, {ams_, 0.75}}).ok());
  EXPECT_EQ(g_.region(nl_).current_weights[0].pop, ams_);  // sorted
  EXPECT_FALSE(g_.SetCurrentWeights(nl_, {{fra_, 0.5}, {ams_, 0.6}}).ok());
  EXPECT_FALSE(g_.SetCurrentWeights(nl_, {{ams_, 0.5}, {ams_, 0.5}}).ok());
  EXPECT_FALSE(g_.SetCurrentWeights(nl_, {{9, 1.0}}).ok());
}

TEST_F(AnycastGraphTest, CopyIsDeep) {
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0)).ok());
  AnycastGraph copy = g_;
  ASSERT_TRUE(copy.RecordMeasurement(fra_, nl_, Rtt(5, kT0)).ok());
  ASSERT_TRUE(copy.SetPopCapacity(ams_, 1).ok());
  EXPECT_EQ(g_.path_count(), 1u);
  EXPECT_EQ(copy.path_count(), 2u);
  EXPECT_EQ(g_.pop(ams_).capacity, 100);
}

TEST_F(AnycastGraphTest, DotHasVerticesAndEdges) {
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5.25, kT0)).ok());
  ASSERT_TRUE(g_.SetPopHealthy(fra_, false).ok());
  const std::string dot = g_.ToDot();
  EXPECT_THAT(dot, ::testing::HasSubstr("digraph"));
  EXPECT_THAT(dot, ::testing::HasSubstr("ams"));
  EXPECT_THAT(dot, ::testing::HasSubstr("nl\\ndemand 10"));
  EXPECT_THAT(dot, ::testing::HasSubstr("5.2 ms"));
  EXPECT_THAT(dot, ::testing::HasSubstr("0->2"));
  EXPECT_THAT(dot, ::testing::HasSubstr("color=red"));
}

TEST_F(AnycastGraphTest, RegionRevisionChangesWithTheRegionAndItsPathsOnly) {
  const RegionId de = *g_.AddRegion({.name = "de", .demand = 5});
  uint64_t nl = g_.region_revision(nl_);
  uint64_t other = g_.region_revision(de);
  EXPECT_NE(nl, other);
  auto changed = [&](RegionId r, uint64_t& last) {
    const uint64_t now = g_.region_revision(r);
    const bool c = now != last;
    last = now;
    return c;
  };
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(10, kT0)).ok());
  EXPECT_TRUE(changed(nl_, nl));
  EXPECT_FALSE(changed(de, other));
  ASSERT_TRUE(g_.SetCurrentWeights(nl_, {{ams_, 1.0}}).ok());
  EXPECT_TRUE(changed(nl_, nl));
  ASSERT_TRUE(g_.SetCurrentWeights(nl_, {{ams_, 1.0}}).ok());  // the same weights
  EXPECT_FALSE(changed(nl_, nl));
  ASSERT_TRUE(g_.SetRegionDemand(nl_, 11).ok());
  EXPECT_TRUE(changed(nl_, nl));
  ASSERT_TRUE(g_.SetCatchment(ams_, nl_, "ams-1").ok());
  EXPECT_TRUE(changed(nl_, nl));
  // Capacity and health are PoP state, not the region's.
  ASSERT_TRUE(g_.SetPopHealthy(fra_, false).ok());
  EXPECT_FALSE(changed(nl_, nl));
  // Expiry drops the measurement (and the path).
  EXPECT_EQ(g_.ExpireStale(kT0 + absl::Hours(1)), 1);
  EXPECT_TRUE(changed(nl_, nl));
  EXPECT_FALSE(changed(de, other));
  // A copy keeps the stamps (same content); changing either copy gives a
  // stamp no other graph has.
  AnycastGraph copy = g_;
  EXPECT_EQ(copy.region_revision(nl_), nl);
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(10, kT0)).ok());
  ASSERT_TRUE(copy.RecordMeasurement(ams_, nl_, Rtt(10, kT0)).ok());
  EXPECT_NE(g_.region_revision(nl_), nl);
  EXPECT_NE(copy.region_revision(nl_), nl);
  EXPECT_NE(g_.region_revision(nl_), copy.region_revision(nl_));
}

TEST_F(AnycastGraphTest, PathRevisionsFollowEachPathInRegionPathOrder) {
  const PopId par = *g_.AddPop({.name = "par", .capacity = 10});
  ASSERT_TRUE(g_.RecordMeasurement(par, nl_, Rtt(9, kT0)).ok());
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0)).ok());
  ASSERT_TRUE(g_.RecordMeasurement(fra_, nl_, Rtt(7, kT0 + absl::Minutes(30))).ok());
  // Parallel to RegionPaths() (sorted by pop), which equals PathsOfRegion().
  const std::vector<const Path*>& paths = g_.RegionPaths(nl_);
  ASSERT_EQ(paths, g_.PathsOfRegion(nl_));
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0]->pop, ams_);
  EXPECT_EQ(paths[2]->pop, par);
  std::vector<uint64_t> stamps = g_.PathRevisionsOfRegion(nl_);
  ASSERT_EQ(stamps.size(), 3u);
  EXPECT_NE(stamps[0], stamps[1]);
  EXPECT_NE(stamps[1], stamps[2]);
  // A measurement renews only its own path's stamp (and the region's).
  const uint64_t region = g_.region_revision(nl_);
  ASSERT_TRUE(g_.RecordMeasurement(fra_, nl_, Rtt(8, kT0 + absl::Minutes(31))).ok());
  std::vector<uint64_t> after = g_.PathRevisionsOfRegion(nl_);
  EXPECT_EQ(after[0], stamps[0]);
  EXPECT_NE(after[1], stamps[1]);
  EXPECT_EQ(after[2], stamps[2]);
  EXPECT_NE(g_.region_revision(nl_), region);
  stamps = after;
  ASSERT_TRUE(g_.SetCatchment(par, nl_, "par-1").ok());
  after = g_.PathRevisionsOfRegion(nl_);
  EXPECT_EQ(after[0], stamps[0]);
  EXPECT_EQ(after[1], stamps[1]);
  EXPECT_NE(after[2], stamps[2]);
  stamps = after;
  // Region state (demand) is not a path's: path stamps stay.
  ASSERT_TRUE(g_.SetRegionDemand(nl_, 12).ok());
  EXPECT_EQ(g_.PathRevisionsOfRegion(nl_), stamps);
  // A copy keeps them; expiry drops the expired paths' stamps with the paths.
  AnycastGraph copy = g_;
  EXPECT_EQ(copy.PathRevisionsOfRegion(nl_), stamps);
  EXPECT_EQ(g_.ExpireStale(kT0 + absl::Minutes(20)), 2);  // ams and par expire
  ASSERT_EQ(g_.RegionPaths(nl_).size(), 1u);
  EXPECT_EQ(g_.RegionPaths(nl_)[0]->pop, fra_);
  EXPECT_EQ(g_.PathRevisionsOfRegion(nl_), std::vector<uint64_t>{stamps[1]});
  // A re-created path gets a stamp no path had before.
  ASSERT_TRUE(g_.RecordMeasurement(ams_, nl_, Rtt(5, kT0 + absl::Minutes(20))).ok());
  ASSERT_EQ(g_.PathRevisionsOfRegion(nl_).size(), 2u);
  EXPECT_NE(g_.PathRevisionsOfRegion(nl_)[0], stamps[0]);
  EXPECT_EQ(g_.PathRevisionsOfRegion(nl_)[1], stamps[1]);
  EXPECT_TRUE(g_.RegionPaths(99).empty());
  EXPECT_TRUE(g_.PathRevisionsOfRegion(99).empty());
}

}  // namespace
}  // namespace vantage::graph
