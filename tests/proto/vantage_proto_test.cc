#include <gtest/gtest.h>

#include "core/quantile_sketch.h"
#include "proto/vantage.grpc.pb.h"
#include "proto/vantage.pb.h"

namespace vantage {
namespace {

TEST(VantageProtoTest, ProbeReportRoundTripsWithASketch) {
  QuantileSketch sketch;
  for (double us : {980.0, 1010.0, 1500.0}) sketch.Add(us);
  v1::ProbeReport report;
  report.set_schema_version(1);
  report.set_report_id(std::string(16, '\x42'));
  report.set_probe_id("probe-ams-1");
  report.set_pop("ams");
  auto* series = report.add_active();
  series->set_target("198.18.1.10");
  series->set_method(v1::METHOD_ICMP);
  series->set_sent(10);
  series->set_received(9);
  (*series->mutable_errors())["unreachable"] = 1;
  series->set_rtt_sketch(sketch.Serialize());

  const std::string wire = report.SerializeAsString();
  v1::ProbeReport back;
  ASSERT_TRUE(back.ParseFromString(wire));
  EXPECT_EQ(back.probe_id(), "probe-ams-1");
  ASSERT_EQ(back.active_size(), 1);
  EXPECT_EQ(back.active(0).errors().at("unreachable"), 1u);
  auto decoded = QuantileSketch::Deserialize(back.active(0).rtt_sketch());
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(*decoded == sketch);
}

TEST(VantageProtoTest, GrpcServicesAreGenerated) {
  EXPECT_STREQ(v1::Ingest::service_full_name(), "vantage.v1.Ingest");
  EXPECT_STREQ(v1::Query::service_full_name(), "vantage.v1.Query");
}

}  // namespace
}  // namespace vantage
