#include "push/guardrails.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include "tests/push/test_states.h"

namespace vantage::push {
namespace {

using testing::TwoPops;

TEST(GuardrailsTest, LimitWeightShiftStepsTowardsTheProposal) {
  auto s = LimitWeightShift(TwoPops(1, 0), TwoPops(0, 1), 0.25);
  ASSERT_EQ(s.prefixes[0].routes.size(), 2u);
  EXPECT_DOUBLE_EQ(s.prefixes[0].routes[0].weight, 0.75);
  EXPECT_DOUBLE_EQ(s.prefixes[0].routes[1].weight, 0.25);
  EXPECT_TRUE(ValidateIntendedState(s).ok());
  // Within the limit: unchanged.
  EXPECT_EQ(LimitWeightShift(TwoPops(0.5, 0.5), TwoPops(0.6, 0.4), 0.25), TwoPops(0.6, 0.4));
  // A new prefix is taken as is.
  auto fresh = LimitWeightShift(IntendedState{}, TwoPops(1, 0), 0.1);
  EXPECT_EQ(fresh, TwoPops(1, 0));
}

TEST(GuardrailsTest, LimitWeightShiftCarriesDroppedPopsAsZero) {
  auto proposed = TwoPops(1, 0);
  proposed.prefixes[0].routes.pop_back();  // "b" dropped
  auto s = LimitWeightShift(TwoPops(0.5, 0.5), proposed, 0.2);
  ASSERT_EQ(s.prefixes[0].routes.size(), 2u);
  EXPECT_NEAR(s.prefixes[0].routes[0].weight, 0.7, 1e-12);
  EXPECT_NEAR(s.prefixes[0].routes[1].weight, 0.3, 1e-12);
}

TEST(GuardrailsTest, WithdrawnEverywhere) {
  EXPECT_TRUE(WithdrawnEverywhere(TwoPops(0.5, 0.5), TwoPops(1, 0)).empty());
  EXPECT_EQ(WithdrawnEverywhere(TwoPops(0.5, 0.5), TwoPops(0, 0)).size(), 1u);
  EXPECT_EQ(WithdrawnEverywhere(TwoPops(0.5, 0.5), IntendedState{}).size(), 1u);
  EXPECT_TRUE(WithdrawnEverywhere(IntendedState{}, IntendedState{}).empty());
}

TEST(GuardrailsTest, CheckLoadsJudgesAgainstCapacity) {
  std::map<std::string, PopLoadExpectation> pred = {{"a", {50, 100}}, {"b", {30, 100}}};
  EXPECT_TRUE(CheckLoads(pred, {{"a", 60}, {"b", 25}}, 0.2).empty());
  auto off = CheckLoads(pred, {{"a", 80}, {"b", 25}}, 0.2);
  ASSERT_EQ(off.size(), 1u);
  EXPECT_EQ(off[0].substr(0, 2), "a:");
  EXPECT_TRUE(CheckLoads(pred, {}, 0.2).empty());  // nothing observed: nothing judged
}

TEST(GuardrailsTest, FreezeFileFreezesAndThaws) {
  const std::string path = "/tmp/vt-push-freeze-" + std::to_string(getpid());
  EXPECT_FALSE(FreezeFile::IsFrozen(path));
  ASSERT_TRUE(FreezeFile::Freeze(path, "maintenance").ok());
  EXPECT_TRUE(FreezeFile::IsFrozen(path));
  ASSERT_TRUE(FreezeFile::Thaw(path).ok());
  EXPECT_FALSE(FreezeFile::IsFrozen(path));
  EXPECT_TRUE(FreezeFile::Thaw(path).ok());  // idempotent
  EXPECT_FALSE(FreezeFile::IsFrozen(""));
}

TEST(GuardrailsTest, ValidatesConfig) {
  GuardrailConfig c;
  EXPECT_TRUE(ValidateGuardrailConfig(c).ok());
  c.max_weight_shift = 0;
  EXPECT_FALSE(ValidateGuardrailConfig(c).ok());
  c = GuardrailConfig{};
  c.rollback_margin = -1;
  EXPECT_FALSE(ValidateGuardrailConfig(c).ok());
}

}  // namespace
}  // namespace vantage::push
