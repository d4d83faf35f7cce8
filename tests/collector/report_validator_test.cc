#include "collector/report_validator.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/collector/test_reports.h"

namespace vantage::collector {
namespace {

using testing::MakeReport;

class ReportValidatorTest : public ::testing::Test {
 protected:
  ReportValidator validator_{{{"probe-ams-1", "ams"}, {"probe-fra-1", "fra"}}, ValidationLimits{}};
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);

  RejectReason Check(const v1::ProbeReport& r, const std::string& cn = "probe-ams-1") {
    return validator_.Validate(r, cn, now_).reason;
  }
};

TEST_F(ReportValidatorTest, AcceptsAValidReport) {
  const Verdict v =
      validator_.Validate(MakeReport("probe-ams-1", "ams", 1, now_), "probe-ams-1", now_);
  EXPECT_TRUE(v.ok()) << v.detail;
}

TEST_F(ReportValidatorTest, RejectsIdentityProblems) {
  const auto r = MakeReport("probe-ams-1", "ams", 1, now_);
  EXPECT_EQ(Check(r, ""), RejectReason::kUnauthenticated);
  EXPECT_EQ(Check(r, "probe-xyz"), RejectReason::kUnknownProbe);
  EXPECT_EQ(Check(r, "probe-fra-1"), RejectReason::kImpersonation);
  EXPECT_EQ(Check(MakeReport("probe-ams-1", "fra", 1, now_)), RejectReason::kWrongPop);
}

TEST_F(ReportValidatorTest, RejectsBadShape) {
  auto r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.set_schema_version(2);
  EXPECT_EQ(Check(r), RejectReason::kBadVersion);
  r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.set_report_id("short");
  EXPECT_EQ(Check(r), RejectReason::kBadReportId);
  EXPECT_EQ(Check(MakeReport("probe-ams-1", "ams", 1, now_ + absl::Hours(1))),
            RejectReason::kBadWindow);
  EXPECT_EQ(Check(MakeReport("probe-ams-1", "ams", 1, now_ - absl::Hours(24 * 8))),
            RejectReason::kBadWindow);
  r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.set_window_start_unix_ns(r.window_end_unix_ns());
  EXPECT_EQ(Check(r), RejectReason::kBadWindow);
}

TEST_F(ReportValidatorTest, RejectsNonFiniteAndOutOfRangeValues) {
  auto r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.mutable_active(0)->set_min_rtt_us(std::nan(""));
  EXPECT_EQ(Check(r), RejectReason::kNonFinite);
  r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.mutable_active(0)->set_received(4);  // sent 3
  EXPECT_EQ(Check(r), RejectReason::kOutOfRange);
  r = MakeReport("probe-ams-1", "ams", 1, now_);
  QuantileSketch huge;
  huge.Add(3600e6);  // an hour
  r.mutable_active(1)->set_rtt_sketch(huge.Serialize());
  EXPECT_EQ(Check(r), RejectReason::kOutOfRange);
}

TEST_F(ReportValidatorTest, RejectsBadSketches) {
  auto r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.mutable_active(0)->set_rtt_sketch("\x01garbage");
  EXPECT_EQ(Check(r), RejectReason::kMalformedSketch);
  r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.mutable_dns(0)->set_time_sketch(std::string(10 << 20, '\x01'));  // 10 MiB
  EXPECT_EQ(Check(r), RejectReason::kOversizedSketch);
}

TEST_F(ReportValidatorTest, RefusesFullClientAddresses) {
  auto r = MakeReport("probe-ams-1", "ams", 1, now_);
  r.mutable_passive(0)->set_client_prefix("198.18.64.7/32");
  const Verdict v = validator_.Validate(r, "probe-ams-1", now_);
  EXPECT_EQ(v.reason, RejectReason::kPrivacy);
  EXPECT_EQ(v.detail.find("198.18.64.7"), std::string::npos) << "the address must not be echoed";
  r.mutable_passive(0)->set_client_prefix("2001:db8:1:2::/64");
  EXPECT_EQ(Check(r), RejectReason::kPrivacy);
  r.mutable_passive(0)->set_client_prefix("2001:db8:1::/48");
  EXPECT_EQ(Check(r), RejectReason::kNone);
}

TEST_F(ReportValidatorTest, EveryReasonHasAStableName) {
  EXPECT_STREQ(RejectReasonName(RejectReason::kImpersonation), "impersonation");
  EXPECT_STREQ(RejectReasonName(RejectReason::kOversizedSketch), "oversized_sketch");
}

}  // namespace
}  // namespace vantage::collector
