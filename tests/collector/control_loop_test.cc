#include "collector/control_loop.h"

#include <gtest/gtest.h>

#include "collector/latest_graph.h"
#include "collector/push_model.h"
#include "core/quantile_sketch.h"
#include "tests/push/fake_router_adapter.h"

namespace vantage::collector {
namespace {

constexpr char kModel[] = R"(
asn: 65001
full_bandwidth_bytes_per_s: 1000
period: 30s
check_interval: 5s
significant_change: 0.1
pops:
  - {name: a, capacity: 100, neighbor: 198.18.1.1, next_hop_v4: 198.18.1.2, next_hop_v6: "2001:db8:1::2"}
  - {name: b, capacity: 100, neighbor: 198.18.2.1, next_hop_v4: 198.18.2.2}
regions:
  - {name: eu, demand: 60, prefixes: [198.18.10.0/24], service_prefixes: [198.18.100.0/24, "2001:db8:100::/48"]}
  - {name: us, demand: 30, prefixes: [198.18.20.0/24], service_prefixes: [198.18.101.0/24]}
guardrails: {max_weight_shift: 1, min_interval: 0s, max_telemetry_age: 1m}
)";
constexpr char kMinimal[] = R"(
pops: [{name: a, capacity: 1, neighbor: 198.18.1.1}]
regions: [{name: eu}]
)";

TEST(PushModelTest, ParsesAndRejectsWithPosition) {
  auto m = ParsePushModel(kModel, "model.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->asn, 65001u);
  ASSERT_EQ(m->pops.size(), 2u);
  EXPECT_FALSE(m->pops[1].next_hop_v6.has_value());
  EXPECT_EQ(m->regions[0].service_prefixes.size(), 2u);
  EXPECT_EQ(m->guardrails.min_interval, absl::ZeroDuration());
  auto bad = ParsePushModel(std::string(kModel) + "bogus: 1\n", "model.yaml");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.yaml:"), absl::string_view::npos);
  EXPECT_FALSE(ParsePushModel("pops: []\nregions: []\n", "m").ok());
  auto minimal = ParsePushModel(kMinimal, "m");  // every other key defaults
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->period, absl::Seconds(30));
}

// A graph where `a` is much closer to eu than b, and b closer to us.
graph::AnycastGraph Graph(const PushModel& m, absl::Time now, double eu_b_rtt = 80) {
  auto g = *GraphSkeleton(m);
  g.set_snapshot_time(now);
  auto rec = [&](int pop, int region, double rtt) {
    graph::Measurement meas;
    meas.rtt_p50_ms = rtt;
    meas.rtt_p90_ms = rtt * 1.1;
    meas.rtt_p99_ms = rtt * 1.2;
    meas.samples = 1000;
    meas.updated = now;
    ASSERT_TRUE(g.RecordMeasurement(pop, region, meas).ok());
  };
  rec(0, 0, 10);
  rec(1, 0, eu_b_rtt);
  rec(0, 1, 70);
  rec(1, 1, 15);
  return g;
}

class ControlLoopTest : public ::testing::Test {
 protected:
  ControlLoopTest()
      : clock_(absl::FromUnixSeconds(2'000'000)),
        model_(*ParsePushModel(kModel, "m")),
        pusher_(&adapter_, nullptr, &clock_, model_.guardrails) {
    opt_.n1_headroom = false;
  }
  ControlLoop Make() {
    return ControlLoop(
        model_, opt_,
        [this]() -> absl::StatusOr<GraphSnapshot> {
          if (!source_error_.ok()) return source_error_;
          auto g = Graph(model_, clock_.Now(), eu_b_rtt_);
          if (b_down_) {
            EXPECT_TRUE(g.SetPopHealthy(1, false).ok());
          }
          return GraphSnapshot{std::move(g), clock_.Now() - age_};
        },
        &pusher_, &clock_);
  }
  FakeClock clock_;
  PushModel model_;
  optimizer::OptimizerConfig opt_;
  push::FakeRouterAdapter adapter_;
  push::Pusher pusher_;
  absl::Status source_error_ = absl::OkStatus();
  double eu_b_rtt_ = 80;
  bool b_down_ = false;
  absl::Duration age_ = absl::Seconds(1);
};

double Weight(const push::IntendedState& s, const std::string& prefix, const std::string& pop) {
  for (const auto& p : s.prefixes) {
    if (p.prefix.ToString() != prefix) continue;
    for (const auto& r : p.routes) {
      if (r.pop == pop) return r.weight;
    }
  }
  return -1;
}

TEST_F(ControlLoopTest, PushesOptimizedWeightsOnThePeriod) {
  auto loop = Make();
  auto step = loop.RunOnce();
  ASSERT_TRUE(step.pushed);
  EXPECT_EQ(step.trigger, "period");
  ASSERT_EQ(step.outcome->result, push::PushResult::kApplied) << step.outcome->reason;
  ASSERT_EQ(adapter_.applied.size(), 1u);
  const auto& s = adapter_.applied[0];
  EXPECT_EQ(s.prefixes.size(), 3u);
  // Uncongested (capacity 100 * 0.8 each): every region on its nearest PoP.
  EXPECT_DOUBLE_EQ(Weight(s, "198.18.100.0/24", "a"), 1.0);
  EXPECT_DOUBLE_EQ(Weight(s, "198.18.100.0/24", "b"), 0.0);
  EXPECT_DOUBLE_EQ(Weight(s, "198.18.101.0/24", "b"), 1.0);
  // IPv6: only `a` has a v6 next hop.
  EXPECT_DOUBLE_EQ(Weight(s, "2001:db8:100::/48", "a"), 1.0);
  EXPECT_EQ(Weight(s, "2001:db8:100::/48", "b"), -1);
  // Nothing changed: the next checks push nothing until the period is due.
  clock_.Advance(absl::Seconds(5));
  EXPECT_FALSE(loop.RunOnce().pushed);
  clock_.Advance(absl::Seconds(25));
  auto again = loop.RunOnce();
  EXPECT_TRUE(again.pushed);
  EXPECT_EQ(again.outcome->result, push::PushResult::kNoChange);
  EXPECT_EQ(adapter_.applied.size(), 1u);
  EXPECT_NE(loop.MetricsText().find("vantage_control_loop_steps_total 3"), std::string::npos);
}

// The loop keeps one OptimizerSession: once the current weights have
// settled, a cycle whose graph differs only in measurements re-solves warm;
// a PoP going down rebuilds the network.
TEST_F(ControlLoopTest, ReSolvesWarmWhenOnlyMeasurementsMove) {
  auto loop = Make();
  const auto warm = [&loop] {
    const std::string m = loop.MetricsText();
    if (m.find("vantage_control_loop_optimize_warm 1") != std::string::npos) return 1;
    if (m.find("vantage_control_loop_optimize_warm 0") != std::string::npos) return 0;
    return -1;
  };
  ASSERT_EQ(loop.RunOnce().outcome->result, push::PushResult::kApplied);
  EXPECT_EQ(warm(), 0);  // the first solve
  clock_.Advance(absl::Seconds(5));
  loop.RunOnce();  // the pushed weights are now the graph's current weights
  for (double rtt : {79.0, 78.0}) {
    clock_.Advance(absl::Seconds(5));
    eu_b_rtt_ = rtt;
    loop.RunOnce();
    EXPECT_EQ(warm(), 1) << rtt;
  }
  clock_.Advance(absl::Seconds(5));
  b_down_ = true;
  loop.RunOnce();
  EXPECT_EQ(warm(), 0);
}

TEST_F(ControlLoopTest, SignificantChangePushesBeforeThePeriod) {
  model_.regions[0].demand = 120;  // eu needs both PoPs (a's ceiling is 80)
  model_.significant_change = 0.05;
  auto loop = Make();
  ASSERT_EQ(loop.RunOnce().outcome->result, push::PushResult::kApplied);
  const double a0 = Weight(adapter_.applied.back(), "198.18.100.0/24", "a");
  EXPECT_NEAR(a0, 80.0 / 120.0, 0.01);
  // b gets much closer to eu than a: move eu's split well before the period.
  clock_.Advance(absl::Seconds(5));
  eu_b_rtt_ = 5;
  auto step = loop.RunOnce();
  ASSERT_TRUE(step.pushed);
  EXPECT_EQ(step.trigger, "change");
  EXPECT_EQ(step.outcome->result, push::PushResult::kApplied);
  EXPECT_LT(Weight(adapter_.applied.back(), "198.18.100.0/24", "a"), a0 - 0.05);
  EXPECT_GE(step.max_move, 0.05);
}

// A PoP goes down while the routers still send it traffic: the loop pushes
// at once, inside the min interval (a failure reaction, see PushRequest).
TEST_F(ControlLoopTest, ADownPopCarryingTrafficIsPushedAwayAtOnce) {
  model_.guardrails.min_interval = absl::Minutes(1);
  pusher_ = push::Pusher(&adapter_, nullptr, &clock_, model_.guardrails);
  auto loop = Make();
  ASSERT_EQ(loop.RunOnce().outcome->result, push::PushResult::kApplied);
  ASSERT_DOUBLE_EQ(Weight(pusher_.last_good(), "198.18.101.0/24", "b"), 1.0);
  // A plain significant change inside the min interval is held.
  clock_.Advance(absl::Seconds(5));
  eu_b_rtt_ = 5;
  auto held = loop.RunOnce();
  ASSERT_TRUE(held.pushed);
  EXPECT_EQ(held.trigger, "change");
  EXPECT_EQ(held.outcome->result, push::PushResult::kTooSoon);
  // b fails: pushed now, b withdrawn everywhere.
  clock_.Advance(absl::Seconds(5));
  b_down_ = true;
  auto step = loop.RunOnce();
  ASSERT_TRUE(step.pushed);
  EXPECT_EQ(step.trigger, "failure");
  ASSERT_EQ(step.outcome->result, push::PushResult::kApplied) << step.outcome->reason;
  EXPECT_FALSE(push::CarriesTraffic(pusher_.last_good(), "b"));
  EXPECT_DOUBLE_EQ(Weight(pusher_.last_good(), "198.18.101.0/24", "a"), 1.0);
  // Still down a step later: b carries nothing, so nothing is pushed early.
  clock_.Advance(absl::Seconds(5));
  EXPECT_FALSE(loop.RunOnce().pushed);
}

TEST_F(ControlLoopTest, FailsStaticOnStaleTelemetryAndSourceErrors) {
  auto loop = Make();
  ASSERT_EQ(loop.RunOnce().outcome->result, push::PushResult::kApplied);
  clock_.Advance(absl::Seconds(30));
  age_ = absl::Minutes(5);
  auto step = loop.RunOnce();
  EXPECT_EQ(step.outcome->result, push::PushResult::kFailStatic);
  clock_.Advance(absl::Seconds(30));
  source_error_ = absl::UnavailableError("no collector state");
  step = loop.RunOnce();
  EXPECT_EQ(step.outcome->result, push::PushResult::kFailStatic);
  EXPECT_NE(step.outcome->reason.find("no collector state"), std::string::npos);
  EXPECT_EQ(adapter_.applied.size(), 1u);
  EXPECT_NE(loop.MetricsText().find("vantage_push_fail_static 1"), std::string::npos);
}

TEST(LatestGraphTest, BuildsPathsFromActiveSeries) {
  auto model = *ParsePushModel(kModel, "m");
  const absl::Time now = absl::FromUnixSeconds(3'000'000);
  std::map<SeriesKey, LatestSeries> latest;
  auto add = [&](const std::string& pop, const std::string& target, double rtt_us, int sent,
                 int received) {
    QuantileSketch sk;
    for (int i = 0; i < received; ++i) sk.Add(rtt_us);
    v1::ActiveSeries s;
    s.set_target(target);
    s.set_method(v1::METHOD_ICMP);
    s.set_sent(static_cast<uint64_t>(sent));
    s.set_received(static_cast<uint64_t>(received));
    s.set_rtt_sketch(sk.Serialize());
    latest[{pop, SeriesKind::kActive, target, v1::METHOD_ICMP}] = {now - absl::Seconds(10), "p",
                                                                   s.SerializeAsString()};
  };
  add("a", "198.18.10.5", 10000, 100, 90);
  add("a", "198.18.10.6", 10000, 100, 100);  // merged with the above: loss 5%
  add("b", "198.18.20.5", 20000, 50, 50);
  add("b", "203.0.113.1", 1000, 10, 10);   // outside every region
  add("zz", "198.18.10.5", 1000, 10, 10);  // unknown PoP
  auto g = BuildGraphFromLatest(model, latest, now);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->used, 3);
  EXPECT_EQ(g->ignored, 2);
  EXPECT_EQ(g->newest, now - absl::Seconds(10));
  const auto* p = g->graph.FindPath(0, 0);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->measurements.size(), 1u);
  EXPECT_NEAR(p->measurements[0].rtt_p50_ms, 10, 0.2);
  EXPECT_NEAR(p->measurements[0].loss, 0.05, 1e-9);
  EXPECT_EQ(p->measurements[0].samples, 190u);
  EXPECT_NE(g->graph.FindPath(1, 1), nullptr);
  EXPECT_EQ(g->graph.FindPath(1, 0), nullptr);  // never measured: missing
}

}  // namespace
}  // namespace vantage::collector
