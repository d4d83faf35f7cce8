// The collector's closed loop pieces: the `control:` config section, the
// graph from passive/DNS/active series with freshness and PoP health, the
// observed-load feed and the rollback it drives, and the loop's metrics.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "collector/collector_config.h"
#include "collector/control_loop.h"
#include "collector/latest_graph.h"
#include "collector/push_model.h"
#include "core/quantile_sketch.h"
#include "nlohmann/json.hpp"
#include "tests/push/fake_router_adapter.h"

namespace vantage::collector {
namespace {

constexpr char kCollector[] = R"(
tls: {cert: c.crt, key: c.key, client_ca: ca.crt}
probes:
  - {id: probe-a, pop: a}
  - {id: probe-b, pop: b}
control:
  adapter: {type: exabgp, socket: /tmp/x.sock}
  period: 5s
  check_interval: 1s
  max_series_age: 10s
  utilisation_ceiling: 0.9
  n1_headroom: false
  stability_cost_ms: 5
  observed_load: {settle: 2s, min_flows: 10}
  pops:
    - {name: a, capacity: 100, neighbor: 127.0.1.1, next_hop_v4: 198.18.1.1}
    - {name: b, capacity: 100, neighbor: 127.0.2.1, next_hop_v4: 198.18.1.2}
  regions:
    - {name: eu, demand: 60, prefixes: [198.18.10.0/24], service_prefixes: [198.19.10.0/24]}
    - {name: us, demand: 30, prefixes: [198.18.20.0/24, 198.18.21.1/32],
       service_prefixes: [198.19.20.0/24]}
  guardrails: {max_weight_shift: 1, min_interval: 0s, max_telemetry_age: 30s,
               rollback_margin: 0.2, rollback_hold: 1m}
)";

TEST(CollectorControlConfigTest, ParsesTheControlSection) {
  auto c = CollectorConfig::Parse(kCollector, "collector.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->control.has_value());
  const PushModel& m = *c->control;
  EXPECT_EQ(m.adapter.type, "exabgp");
  EXPECT_EQ(m.adapter.socket, "/tmp/x.sock");
  EXPECT_EQ(m.period, absl::Seconds(5));
  EXPECT_EQ(m.max_series_age, absl::Seconds(10));
  EXPECT_EQ(m.observed_load.settle, absl::Seconds(2));
  EXPECT_EQ(m.observed_load.min_flows, 10u);
  EXPECT_DOUBLE_EQ(OptimizerConfigFor(m).utilisation_ceiling, 0.9);
  EXPECT_FALSE(OptimizerConfigFor(m).n1_headroom);
  EXPECT_DOUBLE_EQ(OptimizerConfigFor(m).stability_cost_ms, 5);
  EXPECT_EQ(m.regions[1].prefixes.size(), 2u);
  // Without `control` the collector only stores.
  std::string plain(kCollector);
  plain = plain.substr(0, plain.find("control:"));
  auto p = CollectorConfig::Parse(plain, "collector.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->control.has_value());
}

TEST(CollectorControlConfigTest, ErrorsNamePositions) {
  auto expect_error = [](const std::string& text, const std::string& what,
                         const std::string& where) {
    auto c = CollectorConfig::Parse(text, "collector.yaml");
    ASSERT_FALSE(c.ok()) << what;
    EXPECT_NE(c.status().message().find(where), absl::string_view::npos)
        << what << ": " << c.status().message();
  };
  std::string base(kCollector);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  expect_error(replace("type: exabgp", "type: bird"), "adapter type",
               "collector.yaml:7:19: adapter type");
  expect_error(replace("socket: /tmp/x.sock", "path: /tmp/x.json"), "exabgp without socket",
               "collector.yaml:7:");
  expect_error(replace("  adapter: {type: exabgp, socket: /tmp/x.sock}\n", ""), "no adapter",
               "needs an 'adapter'");
  expect_error(replace("period: 5s", "periood: 5s"), "unknown key", "collector.yaml:8:");
  expect_error(replace("settle: 2s", "settle: soon"), "bad duration", "collector.yaml:14:");
  expect_error(replace("max_series_age: 10s", "max_series_age: 10s\n  loss_half_life: soon"),
               "bad half-life", "collector.yaml:11:");
  expect_error(replace("name: b, capacity", "name: c, capacity"), "pop without a probe",
               "'c' has no probe");
}

std::string Sketch(double us, int n) {
  QuantileSketch sk;
  for (int i = 0; i < n; ++i) sk.Add(us);
  return sk.Serialize();
}

class LatestFixture : public ::testing::Test {
 protected:
  LatestFixture() : model_(*CollectorConfig::Parse(kCollector, "c").value().control) {}

  void Active(const std::string& pop, const std::string& target, double rtt_us, int sent,
              int received, absl::Duration age = absl::Seconds(1)) {
    v1::ActiveSeries s;
    s.set_target(target);
    s.set_method(v1::METHOD_ICMP);
    s.set_sent(static_cast<uint64_t>(sent));
    s.set_received(static_cast<uint64_t>(received));
    s.set_rtt_sketch(Sketch(rtt_us, received));
    latest_[{pop, SeriesKind::kActive, target, v1::METHOD_ICMP}] = {now_ - age, "p",
                                                                    s.SerializeAsString()};
  }
  void Passive(const std::string& pop, const std::string& prefix, int method, double rtt_us,
               int samples, uint64_t flows, uint64_t bytes, absl::Duration age = absl::Seconds(1)) {
    v1::PassiveSeries s;
    s.set_client_prefix(prefix);
    s.set_method(static_cast<v1::Method>(method));
    s.set_samples(static_cast<uint64_t>(samples));
    s.set_rtt_sketch(Sketch(rtt_us, samples));
    s.set_flows(flows);
    s.set_bytes(bytes);
    latest_[{pop, SeriesKind::kPassive, prefix, method}] = {now_ - age, "p", s.SerializeAsString()};
  }
  void Dns(const std::string& pop, const std::string& server, double us, int sent, int timeouts) {
    v1::DnsSeries s;
    s.set_server(server);
    s.set_qname("lab.test");
    s.set_qtype("SOA");
    s.set_sent(static_cast<uint64_t>(sent));
    s.set_timeouts(static_cast<uint64_t>(timeouts));
    s.set_time_sketch(Sketch(us, sent - timeouts));
    latest_[{pop, SeriesKind::kDns, server + "|lab.test|SOA", v1::METHOD_DNS}] = {
        now_ - absl::Seconds(1), "p", s.SerializeAsString()};
  }
  const graph::Measurement* Find(const LatestGraph& g, int pop, int region, graph::Method m) {
    const auto* path = g.graph.FindPath(pop, region);
    if (path == nullptr) return nullptr;
    for (const auto& meas : path->measurements) {
      if (meas.method == m) return &meas;
    }
    return nullptr;
  }

  absl::Time now_ = absl::FromUnixSeconds(3'000'000);
  PushModel model_;
  std::map<SeriesKey, LatestSeries> latest_;
};

TEST_F(LatestFixture, UsesPassiveAndDnsSeriesByTheDocumentedRule) {
  Active("a", "198.18.10.5", 10000, 10, 10);
  Active("b", "198.18.21.1", 30000, 10, 10);
  // Passive: a client /24 inside eu's /24, and one inside nothing.
  Passive("a", "198.18.10.0/24", v1::METHOD_PASSIVE_HANDSHAKE, 11000, 40, 40, 4000);
  Passive("a", "198.18.10.0/24", v1::METHOD_PASSIVE_TS_ECHO, 12000, 60, 0, 0);
  // us has 198.18.20.0/24 and 198.18.21.1/32: 198.18.21.0/24 is not inside one region.
  Passive("b", "198.18.21.0/24", v1::METHOD_PASSIVE_HANDSHAKE, 5000, 10, 10, 1000);
  // DNS: a resolver inside us, and the anycast service (outside every region).
  Dns("b", "198.18.20.53:53", 25000, 10, 1);
  Dns("a", "198.19.0.53:53", 100, 10, 0);
  auto g = BuildGraphFromLatest(model_, latest_, now_);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->used, 5);
  EXPECT_EQ(g->ignored, 2);
  const auto* passive = Find(*g, 0, 0, graph::Method::kPassive);
  ASSERT_NE(passive, nullptr);
  EXPECT_EQ(passive->samples, 100u);  // handshake and TS echo merged
  EXPECT_NEAR(passive->rtt_p50_ms, 12, 0.3);
  EXPECT_EQ(Find(*g, 1, 1, graph::Method::kPassive), nullptr);
  const auto* dns = Find(*g, 1, 1, graph::Method::kDns);
  ASSERT_NE(dns, nullptr);
  ASSERT_TRUE(dns->dns_ms.has_value());
  EXPECT_NEAR(*dns->dns_ms, 25, 0.5);
  EXPECT_NEAR(dns->loss, 0.1, 1e-9);
  EXPECT_NE(Find(*g, 1, 1, graph::Method::kIcmp), nullptr);
  EXPECT_TRUE(g->graph.pop(0).healthy);
  EXPECT_TRUE(g->graph.pop(1).healthy);
}

TEST_F(LatestFixture, LossIsSmoothedAcrossWindowsWithAHistory) {
  EXPECT_EQ(model_.loss_half_life, absl::Seconds(30));  // the default
  LossHistory history(model_.loss_half_life);
  // 20 clean windows of 2 s, then one with a burst (5 of 20 lost).
  for (int i = 0; i < 20; ++i) {
    Active("a", "198.18.10.5", 10000, 20, 20);
    ASSERT_TRUE(BuildGraphFromLatest(model_, latest_, now_, &history).ok());
    now_ += absl::Seconds(2);
  }
  Active("a", "198.18.10.5", 10000, 20, 15);
  auto raw = BuildGraphFromLatest(model_, latest_, now_);
  auto smoothed = BuildGraphFromLatest(model_, latest_, now_, &history);
  ASSERT_TRUE(raw.ok() && smoothed.ok());
  ASSERT_NE(Find(*raw, 0, 0, graph::Method::kIcmp), nullptr);
  ASSERT_NE(Find(*smoothed, 0, 0, graph::Method::kIcmp), nullptr);
  EXPECT_DOUBLE_EQ(Find(*raw, 0, 0, graph::Method::kIcmp)->loss, 0.25);
  EXPECT_LT(Find(*smoothed, 0, 0, graph::Method::kIcmp)->loss, 0.03);
  EXPECT_GT(Find(*smoothed, 0, 0, graph::Method::kIcmp)->loss, 0.0);
  // Rebuilding from the same windows does not count the burst twice.
  auto again = BuildGraphFromLatest(model_, latest_, now_, &history);
  ASSERT_TRUE(again.ok());
  EXPECT_DOUBLE_EQ(Find(*again, 0, 0, graph::Method::kIcmp)->loss,
                   Find(*smoothed, 0, 0, graph::Method::kIcmp)->loss);
}

TEST_F(LatestFixture, StaleSeriesAreIgnoredAndSilentOrUnreachablePopsAreDown) {
  Active("a", "198.18.10.5", 10000, 10, 10);
  Active("b", "198.18.10.6", 20000, 10, 10, absl::Seconds(11));  // older than max_series_age
  auto g = BuildGraphFromLatest(model_, latest_, now_);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->stale, 1);
  EXPECT_EQ(g->graph.FindPath(1, 0), nullptr);
  EXPECT_TRUE(g->graph.pop(0).healthy);
  EXPECT_FALSE(g->graph.pop(1).healthy);  // silent
  // b reports again, but none of its probes is answered: down as well.
  Active("b", "198.18.10.6", 20000, 10, 0);
  Active("b", "198.18.21.1", 20000, 10, 0);
  g = BuildGraphFromLatest(model_, latest_, now_);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->graph.pop(1).healthy);
  Active("b", "198.18.21.1", 20000, 10, 1);
  g = BuildGraphFromLatest(model_, latest_, now_);
  EXPECT_TRUE(g->graph.pop(1).healthy);
}

TEST_F(LatestFixture, ObservedLoadsWaitForEveryPopAndEnoughFlows) {
  const absl::Time since = now_ - absl::Seconds(3);
  Active("a", "198.18.10.5", 10000, 10, 10);
  Active("b", "198.18.21.1", 10000, 10, 10, absl::Seconds(5));  // b: newest window before since
  Passive("a", "198.18.10.0/24", v1::METHOD_PASSIVE_HANDSHAKE, 1000, 30, 30, 3000);
  EXPECT_FALSE(ObservedPopLoads(model_, latest_, since, now_).has_value());
  Active("b", "198.18.21.1", 10000, 10, 10);
  Passive("b", "198.18.20.0/24", v1::METHOD_PASSIVE_HANDSHAKE, 1000, 10, 10, 1000);
  // An old passive window of b (before the push) does not count.
  Passive("b", "198.18.10.0/24", v1::METHOD_PASSIVE_HANDSHAKE, 1000, 99, 99, 99000,
          absl::Seconds(5));
  auto obs = ObservedPopLoads(model_, latest_, since, now_);
  ASSERT_TRUE(obs.has_value());
  EXPECT_EQ(obs->total_flows, 40u);
  EXPECT_EQ(obs->bytes.at("a"), 3000u);
  EXPECT_EQ(obs->bytes.at("b"), 1000u);
  auto scaled = obs->Scaled(90);
  EXPECT_DOUBLE_EQ(scaled.at("a"), 67.5);
  EXPECT_DOUBLE_EQ(scaled.at("b"), 22.5);
  // Too few flows: not judged.
  model_.observed_load.min_flows = 41;
  EXPECT_FALSE(ObservedPopLoads(model_, latest_, since, now_).has_value());
}

// The loop judges each applied push once against the observed loads and
// rolls back when they are off the prediction.
TEST(ClosedLoopTest, ObservedLoadsOffThePredictionRollBack) {
  FakeClock clock(absl::FromUnixSeconds(2'000'000));
  PushModel model = *CollectorConfig::Parse(kCollector, "c").value().control;
  model.regions[0].demand = 120;  // eu needs both PoPs
  model.stability_cost_ms = 0;    // any improvement moves
  push::FakeRouterAdapter adapter;
  push::Pusher pusher(&adapter, nullptr, &clock, model.guardrails);
  double eu_b_rtt = 80;
  auto graph = [&]() -> absl::StatusOr<GraphSnapshot> {
    auto g = *GraphSkeleton(model);
    g.set_snapshot_time(clock.Now());
    auto rec = [&](int pop, int region, double rtt) {
      graph::Measurement m;
      m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = rtt;
      m.samples = 1000;
      m.updated = clock.Now();
      EXPECT_TRUE(g.RecordMeasurement(pop, region, m).ok());
    };
    rec(0, 0, 10);
    rec(1, 0, eu_b_rtt);
    rec(0, 1, 70);
    rec(1, 1, 15);
    return GraphSnapshot{std::move(g), clock.Now()};
  };
  std::optional<ObservedLoads> observed;
  std::vector<absl::Time> asked;
  ControlLoop loop(model, OptimizerConfigFor(model), graph, &pusher, &clock);
  loop.SetObservedLoadSource([&](absl::Time since) {
    asked.push_back(since);
    return observed;
  });
  auto step = loop.RunOnce();
  ASSERT_EQ(step.outcome->result, push::PushResult::kApplied) << step.outcome->reason;
  clock.Advance(absl::Seconds(1));
  eu_b_rtt = 5;  // eu moves towards b
  step = loop.RunOnce();
  ASSERT_EQ(step.outcome->result, push::PushResult::kApplied) << step.outcome->reason;
  ASSERT_EQ(asked.size(), 1u);  // asked about the first push (nothing measurable)
  EXPECT_FALSE(step.load_check.has_value());
  const auto second = adapter.applied.back();
  // Observed: everything at a (e.g. routers ignored the weights). Predicted
  // loads differ by far more than 0.2 * capacity.
  ObservedLoads o;
  o.bytes = {{"a", 9000}, {"b", 0}};
  o.flows = {{"a", 90}, {"b", 0}};
  o.total_bytes = 9000;
  o.total_flows = 90;
  observed = o;
  clock.Advance(absl::Seconds(1));
  step = loop.RunOnce();
  ASSERT_TRUE(step.load_check.has_value());
  EXPECT_EQ(step.load_check->result, push::PushResult::kRolledBack) << step.load_check->reason;
  EXPECT_EQ(asked.back(), clock.Now() - absl::Seconds(1) + model.observed_load.settle);
  ASSERT_EQ(adapter.applied.size(), 3u);
  EXPECT_EQ(adapter.applied[2], adapter.applied[0]);  // back to the first state
  EXPECT_NE(adapter.applied[2], second);
  // Held after the rollback: the loop does not push the same move again.
  clock.Advance(absl::Seconds(5));
  step = loop.RunOnce();
  EXPECT_EQ(step.outcome->result, push::PushResult::kTooSoon);
  EXPECT_FALSE(step.load_check.has_value());  // the rollback itself is not judged
  const std::string metrics = loop.MetricsText();
  EXPECT_NE(metrics.find("vantage_push_attempts_total{result=\"rolled_back\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vantage_push_refusals_total{reason=\"loads_off_prediction\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("vantage_push_refusals_total{reason=\"rollback_hold\"} 2"),
            std::string::npos);
  EXPECT_NE(metrics.find("vantage_control_observed_load{pop=\"a\"} "), std::string::npos);
  EXPECT_NE(metrics.find("vantage_control_loop_optimize_seconds "), std::string::npos);
  EXPECT_NE(metrics.find("vantage_push_last_applied_age_seconds 5.000"), std::string::npos);
  EXPECT_NE(metrics.find("vantage_control_weight{prefix=\"198.19.10.0/24\",pop=\"a\"}"),
            std::string::npos);
}

// A PoP that went down since the push explains any gap: no rollback.
TEST(ClosedLoopTest, APopFailureIsNotJudgedAsABadPush) {
  FakeClock clock(absl::FromUnixSeconds(2'000'000));
  PushModel model = *CollectorConfig::Parse(kCollector, "c").value().control;
  push::FakeRouterAdapter adapter;
  push::Pusher pusher(&adapter, nullptr, &clock, model.guardrails);
  bool b_down = false;
  auto graph = [&]() -> absl::StatusOr<GraphSnapshot> {
    auto g = *GraphSkeleton(model);
    g.set_snapshot_time(clock.Now());
    graph::Measurement m;
    m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 10;
    m.samples = 1000;
    m.updated = clock.Now();
    EXPECT_TRUE(g.RecordMeasurement(0, 0, m).ok());
    EXPECT_TRUE(g.RecordMeasurement(1, 1, m).ok());
    m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 50;
    EXPECT_TRUE(g.RecordMeasurement(0, 1, m).ok());
    if (b_down) {
      EXPECT_TRUE(g.SetPopHealthy(1, false).ok());
    }
    return GraphSnapshot{std::move(g), clock.Now()};
  };
  ControlLoop loop(model, OptimizerConfigFor(model), graph, &pusher, &clock);
  ObservedLoads o;  // b's traffic is gone: far off the prediction (a 60, b 30)
  o.bytes = {{"a", 9000}, {"b", 0}};
  o.flows = {{"a", 90}, {"b", 0}};
  o.total_bytes = 9000;
  o.total_flows = 90;
  int asked = 0;
  loop.SetObservedLoadSource([&](absl::Time) {
    asked++;
    return std::optional<ObservedLoads>(o);
  });
  ASSERT_EQ(loop.RunOnce().outcome->result, push::PushResult::kApplied);
  clock.Advance(absl::Seconds(5));
  b_down = true;
  auto step = loop.RunOnce();
  EXPECT_FALSE(step.load_check.has_value());
  EXPECT_EQ(asked, 0);
  // The loop reacts at once: us moves to a.
  ASSERT_EQ(step.outcome->result, push::PushResult::kApplied) << step.outcome->reason;
  EXPECT_EQ(pusher.count(push::PushResult::kRolledBack), 0u);
}

TEST(ClosedLoopTest, ObservedLoadsNearThePredictionKeepThePush) {
  FakeClock clock(absl::FromUnixSeconds(2'000'000));
  PushModel model = *CollectorConfig::Parse(kCollector, "c").value().control;
  model.state_dir = ::testing::TempDir() + "/closed_loop_state";
  push::FakeRouterAdapter adapter;
  push::Pusher pusher(&adapter, nullptr, &clock, model.guardrails);
  auto graph = [&]() -> absl::StatusOr<GraphSnapshot> {
    auto g = *GraphSkeleton(model);
    g.set_snapshot_time(clock.Now());
    graph::Measurement m;
    m.rtt_p50_ms = m.rtt_p90_ms = m.rtt_p99_ms = 10;
    m.samples = 1000;
    m.updated = clock.Now();
    EXPECT_TRUE(g.RecordMeasurement(0, 0, m).ok());
    EXPECT_TRUE(g.RecordMeasurement(1, 1, m).ok());
    return GraphSnapshot{std::move(g), clock.Now()};
  };
  ControlLoop loop(model, OptimizerConfigFor(model), graph, &pusher, &clock);
  ObservedLoads o;  // predicted: a 60, b 30 -> observed shares 2:1
  o.bytes = {{"a", 6100}, {"b", 2900}};
  o.flows = {{"a", 61}, {"b", 29}};
  o.total_bytes = 9000;
  o.total_flows = 90;
  loop.SetObservedLoadSource([&](absl::Time) { return std::optional<ObservedLoads>(o); });
  ASSERT_EQ(loop.RunOnce().outcome->result, push::PushResult::kApplied);
  clock.Advance(absl::Seconds(1));
  auto step = loop.RunOnce();
  ASSERT_TRUE(step.load_check.has_value());
  EXPECT_EQ(step.load_check->result, push::PushResult::kNoChange);
  clock.Advance(absl::Seconds(1));
  EXPECT_FALSE(loop.RunOnce().load_check.has_value());  // judged once per push
  EXPECT_EQ(adapter.applied.size(), 1u);
  // The state dir holds a snapshot vantagectl optimize can read, and the step.
  std::ifstream step_file(model.state_dir + "/step.json");
  auto j = nlohmann::json::parse(step_file, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_DOUBLE_EQ(j["optimized_weights"]["eu"]["a"].get<double>(), 1.0);
  EXPECT_NEAR(j["pops"]["a"]["predicted_load"].get<double>(), 60, 1e-9);
  EXPECT_NEAR(j["observed_loads"]["a"].get<double>(), 61, 1e-9);
  EXPECT_TRUE(std::filesystem::exists(model.state_dir + "/snapshot.json"));
  std::filesystem::remove_all(model.state_dir);
}

}  // namespace
}  // namespace vantage::collector
