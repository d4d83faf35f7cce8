#include "probe/window_builder.h"

#include <gtest/gtest.h>

#include <set>

#include "collector/report_validator.h"
#include "resolver/dns_question.h"

namespace vantage::probe {
namespace {

ProbeWindow SampleWindow(absl::Time end) {
  ProbeWindow w;
  w.probe_id = "probe-ams-1";
  w.pop = "ams";
  w.start = end - absl::Seconds(10);
  w.end = end;

  FlowReport icmp;
  icmp.target = ProbeTarget{*IpAddress::Parse("198.18.1.10"), ProbeMethodSpec{}};
  icmp.flow = 0;
  icmp.sent = 10;
  icmp.received = 9;
  icmp.lost = 1;
  icmp.duplicates = 1;
  icmp.errors[static_cast<size_t>(IcmpErrorKind::kHostUnreachable)] = 1;
  for (int i = 0; i < 9; ++i) icmp.rtt_us.Add(1000 + 10 * i);
  icmp.min_rtt = absl::Microseconds(1000);
  w.active.push_back(icmp);
  FlowReport tcp;
  tcp.target = ProbeTarget{*IpAddress::Parse("2001:db8::10"), *ProbeMethodSpec::Parse("tcp:443")};
  tcp.flow = 1;
  tcp.sent = 5;  // nothing came back: no sketch entries, no minimum
  w.active.push_back(tcp);

  ClientPrefixWindow passive;
  passive.client_prefix = *Prefix::Parse("203.0.113.0/24");
  passive.rtt_us[static_cast<size_t>(RttMethod::kHandshake)][static_cast<size_t>(RttLeg::kClient)]
      .Add(20000);
  passive.rtt_us[static_cast<size_t>(RttMethod::kTimestamp)][static_cast<size_t>(RttLeg::kClient)]
      .Add(21000);
  // The server leg (our own host) does not leave the probe.
  passive.rtt_us[static_cast<size_t>(RttMethod::kSeqAck)][static_cast<size_t>(RttLeg::kServer)].Add(
      50);
  passive.flows = 3;
  passive.packets = 40;
  passive.bytes = 12000;
  w.passive.push_back(passive);

  resolver::DnsWindowStats dns;
  dns.key.server = *Endpoint::Parse("127.0.0.1:5353");
  dns.key.qname = "www.example.test";
  dns.key.qtype = resolver::kTypeAaaa;
  dns.sent = 4;
  dns.answered = 3;
  dns.timeouts = 1;
  dns.rcodes[0] = 2;
  dns.rcodes[3] = 1;
  dns.catchments["ams-ns1"] = 2;
  dns.catchments["fra-ns1"] = 1;
  dns.flips.push_back({});
  for (int i = 0; i < 3; ++i) dns.time_us.Add(300 + i);
  w.dns.push_back(dns);

  w.capture.emplace_back("lo", CaptureStats{100, 2, 1});
  w.spool_dropped = 7;
  return w;
}

// Regression: replies to the previous window's probes arriving in this one
// made received > sent, and the collector rejected the whole window.
TEST(WindowBuilderTest, ActiveSentCountsProbesResolvedInTheWindow) {
  const absl::Time end = absl::FromUnixSeconds(1'800'000'000);
  ProbeWindow w = SampleWindow(end);
  w.active[0].sent = 3;      // sent in this window
  w.active[0].received = 5;  // resolved in it: 2 were sent in the previous one
  w.active[0].lost = 1;
  const v1::ProbeReport r = WindowBuilder::Build(w, WindowBuilder::NewReportId());
  EXPECT_EQ(r.active(0).sent(), 6u);
  EXPECT_EQ(r.active(0).received(), 5u);
  EXPECT_EQ(r.active(1).sent(), 0u);  // still in flight: resolved in a later window
}

TEST(WindowBuilderTest, MapsEveryMeasurementIntoTheReport) {
  const absl::Time end = absl::FromUnixSeconds(1'800'000'000);
  const std::string id = WindowBuilder::NewReportId();
  const v1::ProbeReport r = WindowBuilder::Build(SampleWindow(end), id);
  EXPECT_EQ(r.schema_version(), 1u);
  EXPECT_EQ(r.report_id(), id);
  EXPECT_EQ(r.probe_id(), "probe-ams-1");
  EXPECT_EQ(r.pop(), "ams");
  EXPECT_EQ(r.window_end_unix_ns(), absl::ToUnixNanos(end));
  EXPECT_EQ(r.window_end_unix_ns() - r.window_start_unix_ns(), 10'000'000'000);

  ASSERT_EQ(r.active_size(), 2);
  const v1::ActiveSeries& a = r.active(0);
  EXPECT_EQ(a.target(), "198.18.1.10");
  EXPECT_EQ(a.method(), v1::METHOD_ICMP);
  EXPECT_EQ(a.sent(), 10u);
  EXPECT_EQ(a.received(), 9u);
  EXPECT_EQ(a.duplicates(), 1u);
  EXPECT_EQ(a.errors().at("host_unreachable"), 1u);
  EXPECT_DOUBLE_EQ(a.min_rtt_us(), 1000);
  auto sketch = QuantileSketch::Deserialize(a.rtt_sketch());
  ASSERT_TRUE(sketch.ok());
  EXPECT_EQ(sketch->count(), 9u);
  EXPECT_NEAR(sketch->Quantile(0.5), 1040, 1040 * 0.01);
  EXPECT_EQ(r.active(1).method(), v1::METHOD_TCP_SYN);
  EXPECT_EQ(r.active(1).port(), 443u);
  EXPECT_EQ(r.active(1).flow(), 1u);
  EXPECT_EQ(r.active(1).received(), 0u);

  // Handshake (with the traffic) and timestamp; seq/ack had server-leg samples only.
  ASSERT_EQ(r.passive_size(), 2);
  EXPECT_EQ(r.passive(0).client_prefix(), "203.0.113.0/24");
  EXPECT_EQ(r.passive(0).method(), v1::METHOD_PASSIVE_HANDSHAKE);
  EXPECT_EQ(r.passive(0).flows(), 3u);
  EXPECT_EQ(r.passive(0).bytes(), 12000u);
  EXPECT_EQ(r.passive(0).samples(), 1u);
  EXPECT_EQ(r.passive(1).method(), v1::METHOD_PASSIVE_TS_ECHO);
  EXPECT_EQ(r.passive(1).bytes(), 0u) << "traffic is carried once";

  ASSERT_EQ(r.dns_size(), 1);
  const v1::DnsSeries& d = r.dns(0);
  EXPECT_EQ(d.server(), "127.0.0.1:5353");
  EXPECT_EQ(d.qtype(), "AAAA");
  EXPECT_EQ(d.sent(), 4u);
  EXPECT_EQ(d.timeouts(), 1u);
  EXPECT_EQ(d.rcodes().at("NOERROR"), 2u);
  EXPECT_EQ(d.rcodes().at("NXDOMAIN"), 1u);
  EXPECT_EQ(d.catchments().at("fra-ns1"), 1u);
  EXPECT_EQ(d.catchment_flips(), 1u);

  ASSERT_EQ(r.capture_size(), 1);
  EXPECT_EQ(r.capture(0).interface(), "lo");
  EXPECT_EQ(r.capture(0).kernel_dropped(), 2u);
  EXPECT_EQ(r.spool_dropped(), 7u);

  // What the probe builds, the collector accepts.
  collector::ReportValidator validator({{"probe-ams-1", "ams"}}, collector::ValidationLimits{});
  const collector::Verdict v = validator.Validate(r, "probe-ams-1", end + absl::Seconds(1));
  EXPECT_TRUE(v.ok()) << v.detail;
}

TEST(WindowBuilderTest, ReportIdsAreRandomSixteenBytes) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = WindowBuilder::NewReportId();
    ASSERT_EQ(id.size(), 16u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(WindowBuilderTest, AnEmptyWindowIsStillAValidReport) {
  ProbeWindow w;
  w.probe_id = "p";
  w.pop = "lab";
  w.end = absl::Now();
  w.start = w.end - absl::Seconds(1);
  const v1::ProbeReport r = WindowBuilder::Build(w, WindowBuilder::NewReportId());
  EXPECT_EQ(r.active_size() + r.passive_size() + r.dns_size(), 0);
  collector::ReportValidator validator({{"p", "lab"}}, collector::ValidationLimits{});
  EXPECT_TRUE(validator.Validate(r, "p", w.end).ok());
}

}  // namespace
}  // namespace vantage::probe
