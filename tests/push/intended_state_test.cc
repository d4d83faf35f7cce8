#include "push/intended_state.h"

#include <gtest/gtest.h>

#include "tests/push/test_states.h"

namespace vantage::push {
namespace {

using testing::TwoPops;

TEST(IntendedStateTest, ValidatesWeightsAndAsn) {
  EXPECT_TRUE(ValidateIntendedState(TwoPops(0.75, 0.25)).ok());
  EXPECT_TRUE(ValidateIntendedState(TwoPops(0, 0)).ok());  // guardrails refuse it, not here
  EXPECT_FALSE(ValidateIntendedState(TwoPops(0.5, 0.4)).ok());
  EXPECT_FALSE(ValidateIntendedState(TwoPops(1.5, -0.5)).ok());
  auto s = TwoPops(0.5, 0.5);
  s.asn = 70000;
  EXPECT_FALSE(ValidateIntendedState(s).ok());
  s = TwoPops(0.5, 0.5);
  s.prefixes[0].routes[1].pop = "a";
  EXPECT_FALSE(ValidateIntendedState(s).ok());
  s = TwoPops(0.5, 0.5);
  s.prefixes[0].routes[0].next_hop = testing::Ip("2001:db8::1");
  EXPECT_FALSE(ValidateIntendedState(s).ok());
}

TEST(IntendedStateTest, LinkBandwidthIsProportional) {
  auto s = TwoPops(0.75, 0.25);
  EXPECT_EQ(LinkBandwidth(s, 0.75), 750u);
  EXPECT_EQ(LinkBandwidth(s, 0.25), 250u);
  EXPECT_EQ(LinkBandwidth(s, 0), 0u);
  EXPECT_EQ(LinkBandwidth(s, 1e-9), 1u);  // never a surprise withdraw
}

TEST(IntendedStateTest, DiffListsChangedRoutes) {
  auto d = Diff(TwoPops(0.75, 0.25), TwoPops(1, 0));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].pop, "a");
  EXPECT_DOUBLE_EQ(d[0].new_weight, 1);
  EXPECT_EQ(d[1].pop, "b");
  EXPECT_DOUBLE_EQ(d[1].old_weight, 0.25);
  EXPECT_DOUBLE_EQ(MaxWeightShift(d), 0.25);
  EXPECT_NE(DiffText(d).find("(withdraw)"), std::string::npos);
  EXPECT_TRUE(Diff(TwoPops(0.5, 0.5), TwoPops(0.5, 0.5)).empty());
  EXPECT_EQ(Diff(IntendedState{}, TwoPops(0.5, 0.5)).size(), 2u);
}

TEST(IntendedStateTest, JsonRoundTrips) {
  auto s = TwoPops(0.625, 0.375, "2001:db8:100::/48");
  auto back = IntendedStateFromJson(IntendedStateToJson(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  EXPECT_FALSE(IntendedStateFromJson("{").ok());
  EXPECT_FALSE(IntendedStateFromJson(R"({"asn":1})").ok());
  EXPECT_EQ(Digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace vantage::push
