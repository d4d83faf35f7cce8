#include "push/pusher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "tests/push/fake_router_adapter.h"
#include "tests/push/test_states.h"

namespace vantage::push {
namespace {

using testing::TwoPops;

class PusherTest : public ::testing::Test {
 protected:
  PusherTest() : clock_(absl::FromUnixSeconds(1'000'000)) {
    config_.max_weight_shift = 1;
    config_.min_interval = absl::Seconds(10);
    config_.max_telemetry_age = absl::Seconds(60);
    config_.rollback_margin = 0.2;
    config_.rollback_hold = absl::Minutes(5);
    config_.freeze_file = "/tmp/vt-push-pusher-freeze-" + std::to_string(getpid());
    std::remove(config_.freeze_file.c_str());
    audit_path_ = "/tmp/vt-push-pusher-audit-" + std::to_string(getpid()) + ".db";
    std::remove(audit_path_.c_str());
    audit_ = std::move(*AuditLog::Open(audit_path_));
  }
  ~PusherTest() override {
    std::remove(config_.freeze_file.c_str());
    for (const char* s : {"", "-wal", "-shm"}) std::remove((audit_path_ + s).c_str());
  }

  Pusher Make() { return Pusher(&adapter_, audit_.get(), &clock_, config_); }
  PushRequest Req(IntendedState s) {
    PushRequest r;
    r.proposed = std::move(s);
    r.trigger = "test";
    r.inputs_digest = "digest";
    r.telemetry_time = clock_.Now();
    r.predicted_loads = {{"a", {50, 100}}, {"b", {50, 100}}};
    return r;
  }

  FakeClock clock_;
  GuardrailConfig config_;
  FakeRouterAdapter adapter_;
  std::string audit_path_;
  std::unique_ptr<AuditLog> audit_;
};

TEST_F(PusherTest, AppliesAndAudits) {
  auto p = Make();
  auto out = p.Push(Req(TwoPops(0.75, 0.25)));
  EXPECT_EQ(out.result, PushResult::kApplied) << out.reason;
  ASSERT_EQ(adapter_.applied.size(), 1u);
  EXPECT_EQ(adapter_.applied[0], TwoPops(0.75, 0.25));
  EXPECT_EQ(p.last_good(), TwoPops(0.75, 0.25));
  // The same state again: no change, nothing sent.
  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(p.Push(Req(TwoPops(0.75, 0.25))).result, PushResult::kNoChange);
  EXPECT_EQ(adapter_.applied.size(), 1u);
  auto hist = audit_->Recent(10);
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 2u);
  EXPECT_EQ((*hist)[1].result, "applied");
  EXPECT_EQ((*hist)[1].trigger, "test");
  EXPECT_EQ((*hist)[1].inputs_digest, "digest");
  EXPECT_NE((*hist)[1].diff.find("198.18.100.0/24 a 0.0000 -> 0.7500 (announce)"),
            std::string::npos);
  EXPECT_NE((*hist)[1].state_json.find("\"link_bandwidth\":750"), std::string::npos);
}

TEST_F(PusherTest, DryRunChangesNothing) {
  config_.dry_run = true;
  auto p = Make();
  auto out = p.Push(Req(TwoPops(0.75, 0.25)));
  EXPECT_EQ(out.result, PushResult::kDryRun);
  EXPECT_EQ(out.diff.size(), 2u);
  EXPECT_TRUE(adapter_.applied.empty());
  EXPECT_FALSE(p.has_last_good());
}

TEST_F(PusherTest, RefusesToWithdrawEverywhere) {
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
  clock_.Advance(absl::Minutes(1));
  auto out = p.Push(Req(TwoPops(0, 0)));
  EXPECT_EQ(out.result, PushResult::kRefused);
  EXPECT_NE(out.reason.find("every PoP"), std::string::npos);
  // A proposal that forgets the prefix is the same withdraw.
  EXPECT_EQ(p.Push(Req(IntendedState{.asn = 65001})).result, PushResult::kRefused);
  EXPECT_EQ(adapter_.applied.size(), 1u);
  EXPECT_EQ(p.last_good(), TwoPops(0.5, 0.5));
  // Withdrawing from one PoP is fine.
  EXPECT_EQ(p.Push(Req(TwoPops(1, 0))).result, PushResult::kApplied);
}

TEST_F(PusherTest, RefusesInvalidState) {
  auto p = Make();
  auto out = p.Push(Req(TwoPops(0.5, 0.4)));
  EXPECT_EQ(out.result, PushResult::kRefused);
  EXPECT_TRUE(adapter_.applied.empty());
}

TEST_F(PusherTest, EnforcesMinInterval) {
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(p.Push(Req(TwoPops(0.6, 0.4))).result, PushResult::kTooSoon);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(p.Push(Req(TwoPops(0.6, 0.4))).result, PushResult::kApplied);
  EXPECT_EQ(adapter_.applied.size(), 2u);
}

TEST_F(PusherTest, LimitsWeightShiftPerPush) {
  config_.max_weight_shift = 0.25;
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(1, 0))).result, PushResult::kApplied);
  for (double expect_a : {0.75, 0.5, 0.25, 0.0}) {
    clock_.Advance(absl::Seconds(10));
    auto out = p.Push(Req(TwoPops(0, 1)));
    ASSERT_EQ(out.result, PushResult::kApplied) << out.reason;
    EXPECT_NEAR(p.last_good().prefixes[0].routes[0].weight, expect_a, 1e-12);
    EXPECT_LE(MaxWeightShift(out.diff), 0.25 + 1e-12);
  }
  EXPECT_EQ(adapter_.applied.size(), 5u);
}

TEST_F(PusherTest, FailsStaticOnStaleTelemetry) {
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
  clock_.Advance(absl::Seconds(30));
  auto req = Req(TwoPops(0.9, 0.1));
  req.telemetry_time = clock_.Now() - absl::Seconds(61);
  auto out = p.Push(req);
  EXPECT_EQ(out.result, PushResult::kFailStatic);
  EXPECT_NE(out.reason.find("stale telemetry"), std::string::npos);
  EXPECT_TRUE(p.alert());
  EXPECT_NE(p.MetricsText().find("vantage_push_fail_static 1"), std::string::npos);
  EXPECT_NE(p.MetricsText().find("vantage_push_attempts_total{result=\"fail_static\"} 1"),
            std::string::npos);
  EXPECT_EQ(p.last_good(), TwoPops(0.5, 0.5));
  EXPECT_EQ(adapter_.applied.size(), 1u);
  // Fresh telemetry clears the alert.
  EXPECT_EQ(p.Push(Req(TwoPops(0.9, 0.1))).result, PushResult::kApplied);
  EXPECT_FALSE(p.alert());
}

TEST_F(PusherTest, FailsStaticOnOptimizerError) {
  auto p = Make();
  auto req = Req(TwoPops(0.5, 0.5));
  req.optimizer_status = absl::InternalError("solver blew up");
  auto out = p.Push(req);
  EXPECT_EQ(out.result, PushResult::kFailStatic);
  EXPECT_NE(out.reason.find("solver blew up"), std::string::npos);
  EXPECT_TRUE(adapter_.applied.empty());
  EXPECT_TRUE(p.alert());
}

TEST_F(PusherTest, FailsStaticOnAdapterError) {
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
  clock_.Advance(absl::Seconds(30));
  adapter_.fail_with = absl::UnavailableError("session down");
  auto out = p.Push(Req(TwoPops(0.8, 0.2)));
  EXPECT_EQ(out.result, PushResult::kFailStatic);
  EXPECT_EQ(p.last_good(), TwoPops(0.5, 0.5));
  EXPECT_NE(p.MetricsText().find("vantage_push_adapter_errors_total 1"), std::string::npos);
  // The adapter recovers: re-applying the last good state works.
  adapter_.fail_with = absl::OkStatus();
  EXPECT_EQ(p.Reapply("recover").result, PushResult::kApplied);
  EXPECT_EQ(adapter_.applied.back(), TwoPops(0.5, 0.5));
}

TEST_F(PusherTest, FreezeRefusesEverythingUntilThaw) {
  auto p = Make();
  ASSERT_TRUE(FreezeFile::Freeze(config_.freeze_file, "test").ok());
  EXPECT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kFrozen);
  EXPECT_NE(p.MetricsText().find("vantage_push_frozen 1"), std::string::npos);
  EXPECT_TRUE(adapter_.applied.empty());
  ASSERT_TRUE(FreezeFile::Thaw(config_.freeze_file).ok());
  EXPECT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
}

TEST_F(PusherTest, RollsBackWhenObservedLoadsMissThePrediction) {
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
  clock_.Advance(absl::Seconds(30));
  auto req = Req(TwoPops(0.8, 0.2));
  req.predicted_loads = {{"a", {80, 100}}, {"b", {20, 100}}};
  ASSERT_EQ(p.Push(req).result, PushResult::kApplied);
  // Within the margin: nothing happens.
  EXPECT_EQ(p.CheckObservedLoads({{"a", 70}, {"b", 30}}).result, PushResult::kNoChange);
  EXPECT_EQ(adapter_.applied.size(), 2u);
  // Off by 40% of capacity: roll back to 0.5/0.5.
  auto out = p.CheckObservedLoads({{"a", 40}, {"b", 60}});
  EXPECT_EQ(out.result, PushResult::kRolledBack);
  ASSERT_EQ(adapter_.applied.size(), 3u);
  EXPECT_EQ(adapter_.applied.back(), TwoPops(0.5, 0.5));
  EXPECT_EQ(p.last_good(), TwoPops(0.5, 0.5));
  EXPECT_TRUE(p.alert());
  // Held after the rollback, even past the min interval.
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(p.Push(Req(TwoPops(0.8, 0.2))).result, PushResult::kTooSoon);
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(p.Push(Req(TwoPops(0.8, 0.2))).result, PushResult::kApplied);
  auto hist = audit_->Recent(10);
  ASSERT_TRUE(hist.ok());
  bool saw_rollback = false;
  for (const auto& r : *hist) saw_rollback |= r.result == "rolled_back" && r.trigger == "rollback";
  EXPECT_TRUE(saw_rollback);
}

// A PoP the last good state sends traffic to is down: moving its traffic
// can't wait for the rollback hold, the min interval or small steps.
TEST_F(PusherTest, AFailureReactionIsNotHeldBackButFreezeStillHolds) {
  config_.max_weight_shift = 0.25;
  auto p = Make();
  ASSERT_EQ(p.Push(Req(TwoPops(0.5, 0.5))).result, PushResult::kApplied);
  clock_.Advance(absl::Seconds(30));
  auto req = Req(TwoPops(0.75, 0.25));
  req.predicted_loads = {{"a", {75, 100}}, {"b", {25, 100}}};
  ASSERT_EQ(p.Push(req).result, PushResult::kApplied);
  ASSERT_EQ(p.CheckObservedLoads({{"a", 30}, {"b", 70}}).result, PushResult::kRolledBack);
  ASSERT_EQ(p.last_good(), TwoPops(0.5, 0.5));
  clock_.Advance(absl::Seconds(1));  // inside the hold and the min interval
  // Without a failure: held.
  EXPECT_EQ(p.Push(Req(TwoPops(1, 0))).result, PushResult::kTooSoon);
  // b is down: everything moves to a at once (no 0.25 step), held or not.
  auto fail = Req(TwoPops(1, 0));
  fail.failed_pops = {"b"};
  auto out = p.Push(fail);
  EXPECT_EQ(out.result, PushResult::kApplied) << out.reason;
  EXPECT_EQ(p.last_good(), TwoPops(1, 0));
  EXPECT_NE(out.reason.find("failure reaction: b down"), std::string::npos) << out.reason;
  EXPECT_NE(p.MetricsText().find("vantage_push_failure_reactions_total 1\n"), std::string::npos);
  // b carries nothing now: naming it again is no failure reaction (min interval applies).
  auto again = Req(TwoPops(0.9, 0.1));
  again.failed_pops = {"b"};
  EXPECT_EQ(p.Push(again).result, PushResult::kTooSoon);
  // Freeze is an operator's explicit choice and holds even a failure reaction.
  ASSERT_TRUE(FreezeFile::Freeze(config_.freeze_file, "test").ok());
  auto frozen = Req(TwoPops(0, 1));
  frozen.failed_pops = {"a"};
  EXPECT_EQ(p.Push(frozen).result, PushResult::kFrozen);
  EXPECT_EQ(p.last_good(), TwoPops(1, 0));
}

}  // namespace
}  // namespace vantage::push
