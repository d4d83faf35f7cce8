// The lab's BGP set-up as text and plans: FRR and ExaBGP configs carry what
// issue 9 asks for, and PlanLabBgp gives each PoP its session and makes its
// next hops connected in the router namespace.
#include "lab/bgp_daemons.h"

#include <gtest/gtest.h>

#include "lab/lab_controller.h"
#include "lab/topology.h"

namespace vantage::lab {
namespace {

BgpDaemonsConfig Config() {
  BgpDaemonsConfig c;
  c.dir = "/tmp/x";
  c.router_ns = "r";
  c.speaker_ns = "r";
  c.router_id = *IpAddress::Parse("198.18.0.1");
  c.sessions = {
      {"ams", *IpAddress::Parse("198.18.254.1"), *IpAddress::Parse("198.18.254.2"), 65001},
      {"fra", *IpAddress::Parse("198.18.254.5"), *IpAddress::Parse("198.18.254.6"), 65002}};
  c.relay_command = "/bin/relay --socket /tmp/x.sock";
  return c;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(BgpDaemonsTest, FrrConfigHasMultipathAndOneNeighborPerSession) {
  const std::string bgpd = BgpdConfig(Config());
  EXPECT_TRUE(Has(bgpd, "router bgp 65000\n"));
  EXPECT_TRUE(Has(bgpd, " no bgp ebgp-requires-policy\n"));
  EXPECT_TRUE(Has(bgpd, " bgp bestpath as-path multipath-relax\n"));
  EXPECT_TRUE(Has(bgpd, " neighbor 198.18.254.2 remote-as 65001\n"));
  EXPECT_TRUE(Has(bgpd, " neighbor 198.18.254.2 update-source 198.18.254.1\n"));
  EXPECT_TRUE(Has(bgpd, " neighbor 198.18.254.6 remote-as 65002\n"));
  EXPECT_TRUE(Has(bgpd, "  neighbor 198.18.254.6 activate\n"));  // IPv6 on the v4 session
  size_t n = 0;
  for (size_t pos = 0; (pos = bgpd.find("maximum-paths 8", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, 2u);  // IPv4 and IPv6
}

TEST(BgpDaemonsTest, ExabgpConfigTargetsEachRouterAddressAndRunsTheRelay) {
  const std::string exa = ExabgpConfig(Config());
  EXPECT_TRUE(Has(exa, "run /bin/relay --socket /tmp/x.sock;"));
  EXPECT_TRUE(Has(exa, "neighbor 198.18.254.1 {"));
  EXPECT_TRUE(Has(exa, "local-address 198.18.254.2;"));
  EXPECT_TRUE(Has(exa, "local-as 65002;"));
  EXPECT_TRUE(Has(exa, "peer-as 65000;"));
  EXPECT_TRUE(Has(exa, "api { processes [ vantage ]; }"));
}

TEST(BgpDaemonsTest, LabPlanGivesEveryPopASessionAndConnectedNextHops) {
  auto topology = LoadTopology(VANTAGE_LAB_EXAMPLE_TOPOLOGY);
  ASSERT_TRUE(topology.ok()) << topology.status();
  auto plan = PlanLabBgp(*topology);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->pops.size(), topology->pops.size());
  EXPECT_EQ(plan->pops[0].pop, "ams");
  EXPECT_EQ(plan->pops[0].session.router_address.ToString(), "198.18.254.1");
  EXPECT_EQ(plan->pops[1].session.speaker_address.ToString(), "198.18.254.6");
  EXPECT_EQ(plan->pops[2].session.speaker_asn, 65003u);
  EXPECT_EQ(plan->pops[0].next_hop_v4->ToString(), "198.18.1.1");
  EXPECT_EQ(plan->pops[0].next_hop_v6->ToString(), "2001:db8:1::1");
  // All PoPs share 198.18.1.0/24 and 2001:db8:1::/64: one connected address each.
  EXPECT_EQ(plan->connected, (std::vector<std::string>{"198.18.1.254/24", "2001:db8:1::fffe/64"}));
  const auto j = plan->ToJson();
  EXPECT_EQ(j["sessions"][1]["neighbor"], "198.18.254.5");
  EXPECT_EQ(j["sessions"][1]["next_hop_v4"], "198.18.1.2");
}

TEST(BgpDaemonsTest, LabPlanRefusesAddressesItNeeds) {
  auto topology = LoadTopology(VANTAGE_LAB_EXAMPLE_TOPOLOGY);
  ASSERT_TRUE(topology.ok());
  Topology t = *topology;
  t.regions[0].addresses.push_back(*IpAddress::Parse("198.18.254.9"));
  EXPECT_FALSE(PlanLabBgp(t).ok());
  t = *topology;
  t.regions[0].addresses.push_back(*IpAddress::Parse("198.18.1.254"));
  auto bad = PlanLabBgp(t);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("198.18.1.254"), absl::string_view::npos);
}

}  // namespace
}  // namespace vantage::lab
