#include "lab/routing_table.h"

#include <gtest/gtest.h>

#include "tests/lab/test_packets.h"

namespace vantage::lab {
namespace {

using testing::Ip;

constexpr char kTopology[] = R"(pops:
  - {name: a, addresses: [198.18.1.1], services: [198.19.0.53, "2001:db8:53::53"]}
  - {name: b, addresses: [198.18.1.2], services: [198.19.0.53, "2001:db8:53::53", 198.19.0.80]}
  - {name: c, addresses: [198.18.1.3], services: [198.19.0.53]}
regions:
  - {name: r1, addresses: [198.18.2.1, "2001:db8:2::1"], catchment: a}
  - {name: r2, addresses: [198.18.2.2]}
links:
  - {pop: a, region: r1, delay_ms: 5}
  - {pop: b, region: r1, delay_ms: 9}
  - {pop: c, region: r1, delay_ms: 7}
  - {pop: c, region: r2, delay_ms: 1}
)";

class RoutingTableTest : public ::testing::Test {
 protected:
  RoutingTableTest() : topology_(*ParseTopology(kTopology, "t")), table_(topology_) {}
  NodeId Node(const char* name) { return *table_.FindNode(name); }
  Topology topology_;
  RoutingTable table_;
};

TEST_F(RoutingTableTest, NodeIdsFollowTheTopologyOrder) {
  EXPECT_EQ(Node("a"), 0);
  EXPECT_EQ(Node("c"), 2);
  EXPECT_EQ(Node("r1"), 3);
  EXPECT_EQ(Node("router"), 5);
  EXPECT_EQ(table_.nodes()[5].kind, NodeKind::kRouter);
}

TEST_F(RoutingTableTest, UnicastGoesToTheOwner) {
  EXPECT_EQ(table_.Route(Node("r1"), Ip("198.18.1.2")), Node("b"));
  EXPECT_EQ(table_.Route(Node("b"), Ip("2001:db8:2::1")), Node("r1"));
  EXPECT_EQ(table_.Route(Node("a"), Ip("198.18.0.254")), std::nullopt);  // nobody's
  EXPECT_EQ(table_.Route(Node("a"), Ip("198.18.1.1")), std::nullopt);    // itself
}

TEST_F(RoutingTableTest, AnycastFollowsTheCatchment) {
  EXPECT_EQ(table_.Route(Node("r1"), Ip("198.19.0.53")), Node("a"));
  EXPECT_EQ(table_.Route(Node("r1"), Ip("2001:db8:53::53")), Node("a"));
  // r2 has no configured catchment: its nearest linked PoP.
  EXPECT_EQ(table_.Route(Node("r2"), Ip("198.19.0.53")), Node("c"));
  ASSERT_TRUE(table_.SetCatchment("r1", "b").ok());
  EXPECT_EQ(table_.Route(Node("r1"), Ip("198.19.0.53")), Node("b"));
  EXPECT_EQ(table_.CatchmentOf(Node("r1")), Node("b"));
}

TEST_F(RoutingTableTest, AddressNotServedByTheCatchmentGoesToTheNearestServer) {
  // 198.19.0.80 only lives in b; r1's catchment a doesn't serve it.
  EXPECT_EQ(table_.Route(Node("r1"), Ip("198.19.0.80")), Node("b"));
  // r2 is not linked to b at all.
  EXPECT_EQ(table_.Route(Node("r2"), Ip("198.19.0.80")), std::nullopt);
  // Only regions reach anycast services through the lab.
  EXPECT_EQ(table_.Route(Node("a"), Ip("198.19.0.80")), std::nullopt);
}

TEST_F(RoutingTableTest, SetCatchmentRejectsUnknownOrUnlinked) {
  EXPECT_EQ(table_.SetCatchment("r9", "a").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.SetCatchment("r1", "r2").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(table_.SetCatchment("r2", "a").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(table_.CatchmentOf(Node("r2")), Node("c"));
}

}  // namespace
}  // namespace vantage::lab
