#include "optimizer/network_simplex.h"

#include <gtest/gtest.h>

namespace vantage::optimizer {
namespace {

// Two sources, two sinks through a capacitated middle: a classic small case
// whose optimum is easy to check by hand.
TEST(NetworkSimplexTest, SmallTransportation) {
  // Nodes: s0=0, s1=1, t0=2, t1=3, root sink=4.
  std::vector<NetworkSimplex::ArcSpec> arcs = {
      {0, 2, NetworkSimplex::kInfinity, 1},    // 0
      {0, 3, NetworkSimplex::kInfinity, 4},    // 1
      {1, 2, NetworkSimplex::kInfinity, 2},    // 2
      {1, 3, NetworkSimplex::kInfinity, 3},    // 3
      {2, 4, 5, 0},                            // 4: t0 cap 5
      {3, 4, 10, 0},                           // 5
      {2, 4, NetworkSimplex::kInfinity, 100},  // 6 overflow
      {3, 4, NetworkSimplex::kInfinity, 100},  // 7 overflow
  };
  NetworkSimplex ns(5, arcs, {4, 4, 0, 0, -8});
  // Greedy start: both sources on t0 (overloaded -> overflow arc in tree).
  ASSERT_TRUE(ns.Solve(4, {0, 2, 6, 5, -1}, {4}).ok());
  // Optimum: s0 -> t0 4, s1 -> t0 1, s1 -> t1 3: 4 + 2 + 9 = 15.
  EXPECT_DOUBLE_EQ(ns.Objective(), 15);
  EXPECT_DOUBLE_EQ(ns.flow(0), 4);
  EXPECT_DOUBLE_EQ(ns.flow(2), 1);
  EXPECT_DOUBLE_EQ(ns.flow(3), 3);
  EXPECT_DOUBLE_EQ(ns.flow(6), 0);

  // Warm re-solve after a cost change: s1 -> t1 becomes cheap.
  ns.SetCost(3, 0.5);
  ASSERT_TRUE(ns.Resolve().ok());
  // s0 -> t0 4, s1 -> t1 4: 4 + 2 = 6.
  EXPECT_DOUBLE_EQ(ns.Objective(), 6);
}

TEST(NetworkSimplexTest, RejectsBadBasis) {
  std::vector<NetworkSimplex::ArcSpec> arcs = {{0, 1, 1, 1}, {1, 2, 1, 1}};
  NetworkSimplex ns(3, arcs, {1, 0, -1});
  EXPECT_FALSE(ns.Solve(2, {1, 1, -1}, {}).ok());  // arc used twice
  EXPECT_FALSE(ns.Solve(2, {0, 0, -1}, {}).ok());
  NetworkSimplex over(3, arcs, {5, 0, -5});
  EXPECT_FALSE(over.Solve(2, {0, 1, -1}, {}).ok());  // flow 5 > capacity 1
}

}  // namespace
}  // namespace vantage::optimizer
