#include "lab/topology.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace vantage::lab {
namespace {

using ::testing::HasSubstr;

constexpr char kMinimal[] = R"(pops:
  - name: a
    addresses: [198.18.1.1]
    services: [198.19.0.53]
  - name: b
    addresses: [198.18.1.2, "2001:db8:1::2"]
    services: [198.19.0.53]
regions:
  - name: r
    addresses: [198.18.2.1]
links:
  - {pop: a, region: r, delay_ms: 10}
  - pop: b
    region: r
    delay_ms: 2.5
    loss: 0.01
    to_region: {delay_ms: 3, jitter_ms: 0.5}
)";

TEST(TopologyTest, ParsesAndFillsDefaults) {
  absl::StatusOr<Topology> t = ParseTopology(kMinimal, "t.yaml");
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->pops.size(), 2u);
  EXPECT_EQ(t->pops[1].addresses.size(), 2u);
  EXPECT_EQ(t->router.name, "router");
  EXPECT_EQ(t->services.dns_port, 53);
  // Without a configured catchment the nearest linked PoP is chosen.
  EXPECT_EQ(t->regions[0].catchment, "b");
  const Link* l = t->FindLink("b", "r");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->to_pop.delay, absl::Microseconds(2500));
  EXPECT_DOUBLE_EQ(l->to_pop.loss, 0.01);
  EXPECT_EQ(l->to_region.delay, absl::Milliseconds(3));
  EXPECT_EQ(l->to_region.jitter, absl::Microseconds(500));
  EXPECT_DOUBLE_EQ(l->to_region.loss, 0.01);  // inherited from the link
}

TEST(TopologyTest, ExampleTopologyIsValid) {
  absl::StatusOr<Topology> t = LoadTopology(VANTAGE_LAB_EXAMPLE_TOPOLOGY);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->pops.size(), 3u);
  EXPECT_EQ(t->regions.size(), 5u);
  EXPECT_EQ(t->links.size(), 15u);
  EXPECT_TRUE(t->FindLink("fra", "asia")->to_pop.gilbert_elliott.has_value());
}

struct BadCase {
  std::string yaml;
  std::string where;
  std::string what;
};

class TopologyErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(TopologyErrorTest, ReportsFileLineColumn) {
  absl::StatusOr<Topology> t = ParseTopology(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("bad.yaml:" + GetParam().where + ": "));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr(GetParam().what));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TopologyErrorTest,
    ::testing::Values(
        BadCase{"pops: []\nregions: []\nlinks: []\nextra: 1\n", "4:1", "unknown key 'extra'"},
        BadCase{"pops:\n  - name: a\n    adresses: [198.18.1.1]\n", "3:5",
                "unknown key 'adresses'"},
        BadCase{"pops:\n  - {name: a, addresses: [192.0.2.1]}\nregions: []\nlinks: []\n", "2:27",
                "outside the lab ranges"},
        BadCase{"pops:\n  - {name: A, addresses: [198.18.1.1]}\n", "2:12", "must be 1-20"},
        BadCase{std::string(kMinimal) + "  - {pop: a, region: r, loss: 1.5}\n", "18:31",
                "loss must be in [0, 1]"},
        BadCase{std::string(kMinimal) + "  - {pop: a, region: r, delay_ms: fast}\n", "18:35",
                "is not a number"},
        BadCase{std::string(kMinimal) + "  - {pop: zz, region: r}\n", "18:11", "no pop named"},
        BadCase{"pops: [\n", "2:1", ""},
        BadCase{"pops:\n  - {name: a, addresses: [198.18.1.1]}\nregions:\n"
                "  - {name: a, addresses: [198.18.2.1]}\nlinks: []\n",
                "4:12", "used twice"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      return "Case" + std::to_string(param_info.index);
    });

TEST(TopologyTest, RejectsCatchmentWithoutLink) {
  std::string yaml = kMinimal;
  yaml.replace(yaml.find("    addresses: [198.18.2.1]"), 27,
               "    addresses: [198.18.2.1]\n    catchment: c");
  absl::StatusOr<Topology> t = ParseTopology(yaml, "c.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("c.yaml:11:16: no pop named 'c'"));
}

TEST(TopologyTest, GilbertElliottStationaryLoss) {
  GilbertElliottParams ge{0.01, 0.09, 0.0, 0.5};
  EXPECT_NEAR(ge.StationaryLoss(), 0.1 * 0.5, 1e-12);
}

}  // namespace
}  // namespace vantage::lab
