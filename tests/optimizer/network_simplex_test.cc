#include "optimizer/network_simplex.h"

#include <gtest/gtest.h>

namespace vantage::optimizer {
namespace {

// A sink's capacity and overload arcs to the root, and its tree arc as the
// optimizer picks it: the capacity arc when it has room (`load` below
// `capacity`), else the overload arc with the capacity arc full.
void AddSinkArcs(int sink, int root, double capacity, double overload_cost, double load,
                 std::vector<NetworkSimplex::ArcSpec>* arcs, int* tree_arc,
                 std::vector<int>* upper) {
  const int cap = static_cast<int>(arcs->size());
  arcs->push_back({sink, root, capacity, 0});
  arcs->push_back({sink, root, NetworkSimplex::kInfinity, overload_cost});
  if (load < capacity) {
    *tree_arc = cap;
  } else {
    *tree_arc = cap + 1;
    upper->push_back(cap);
  }
}

// Deterministic uniform doubles in [0, 1) (a 64-bit LCG's top 53 bits).
class Uniform {
 public:
  explicit Uniform(uint64_t seed) : state_(seed) {}
  double operator()() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state_ >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t state_;
};

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

// Random transportation networks: a warm re-solve after cost changes must
// reach the same optimum as a cold solve of the changed network.
TEST(NetworkSimplexTest, WarmResolveMatchesColdSolve) {
  Uniform next(99);
  for (int round = 0; round < 20; ++round) {
    const int sources = 30, sinks = 6;
    const int root = sources + sinks;
    std::vector<NetworkSimplex::ArcSpec> arcs;
    std::vector<double> supply(static_cast<size_t>(root + 1), 0.0);
    std::vector<int> tree(static_cast<size_t>(root + 1), -1);
    std::vector<int> upper;
    double total = 0;
    for (int s = 0; s < sources; ++s) {
      supply[static_cast<size_t>(s)] = 1 + 10 * next();
      total += supply[static_cast<size_t>(s)];
      tree[static_cast<size_t>(s)] = static_cast<int>(arcs.size());
      for (int k = 0; k < 3; ++k) {
        arcs.push_back({s, sources + (s + k) % sinks, NetworkSimplex::kInfinity, 1 + 50 * next()});
      }
    }
    std::vector<double> load(static_cast<size_t>(sinks), 0.0);
    for (int s = 0; s < sources; ++s) {
      load[static_cast<size_t>(s % sinks)] += supply[static_cast<size_t>(s)];
    }
    for (int t = 0; t < sinks; ++t) {
      AddSinkArcs(sources + t, root, total / sinks * 1.1, 1e4, load[static_cast<size_t>(t)], &arcs,
                  &tree[static_cast<size_t>(sources) + static_cast<size_t>(t)], &upper);
    }
    supply[static_cast<size_t>(root)] = -total;
    NetworkSimplex warm(root + 1, arcs, supply);
    const absl::Status st = warm.Solve(root, tree, upper);
    ASSERT_TRUE(st.ok()) << st;
    for (int c = 0; c < 10; ++c) {
      const auto a = static_cast<size_t>(next() * sources * 3);
      arcs[a].cost = 1 + 50 * next();
      warm.SetCost(static_cast<int>(a), arcs[a].cost);
    }
    ASSERT_TRUE(warm.Resolve().ok());
    NetworkSimplex cold(root + 1, arcs, supply);
    ASSERT_TRUE(cold.Solve(root, tree, upper).ok());
    EXPECT_NEAR(warm.Objective(), cold.Objective(), 1e-9 * cold.Objective()) << round;
    for (int s = 0; s < sources; ++s) {
      double out = 0;
      for (int k = 0; k < 3; ++k) out += warm.flow(s * 3 + k);
      EXPECT_NEAR(out, supply[static_cast<size_t>(s)], 1e-9) << round;
    }
  }
}

// Capacity changes (up, down, to zero; arcs in the tree, at their upper
// bound, at zero) then a warm Resolve() reach a cold solve's optimum, and the
// flow stays feasible: within bounds and conserving every node's supply.
TEST(NetworkSimplexTest, WarmCapacityChangesMatchColdSolve) {
  uint64_t state = 4242;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) * 0x1.0p-53;
  };
  const int sources = 40, sinks = 8;
  const int root = sources + sinks;
  int capacity_changes = 0;
  for (int round = 0; round < 30; ++round) {
    std::vector<NetworkSimplex::ArcSpec> arcs;
    std::vector<double> supply(static_cast<size_t>(root + 1), 0.0);
    double total = 0;
    for (int s = 0; s < sources; ++s) {
      supply[static_cast<size_t>(s)] = 1 + 10 * next();
      total += supply[static_cast<size_t>(s)];
      for (int k = 0; k < 3; ++k) {
        arcs.push_back(
            {s, sources + (s * 5 + k) % sinks, NetworkSimplex::kInfinity, 1 + 50 * next()});
      }
    }
    std::vector<int> cap_arc(static_cast<size_t>(sinks));
    for (int t = 0; t < sinks; ++t) {
      cap_arc[static_cast<size_t>(t)] = static_cast<int>(arcs.size());
      arcs.push_back({sources + t, root, total / sinks * (0.6 + 0.8 * next()), 0});
      arcs.push_back({sources + t, root, NetworkSimplex::kInfinity, 1e4});
    }
    supply[static_cast<size_t>(root)] = -total;
    // The optimizer's greedy start for the current capacities.
    auto basis = [&](std::vector<int>* tree, std::vector<int>* upper) {
      tree->assign(static_cast<size_t>(root) + 1, -1);
      upper->clear();
      std::vector<double> load(static_cast<size_t>(sinks), 0.0);
      for (int s = 0; s < sources; ++s) {
        (*tree)[static_cast<size_t>(s)] = s * 3;
        load[static_cast<size_t>((s * 5) % sinks)] += supply[static_cast<size_t>(s)];
      }
      for (int t = 0; t < sinks; ++t) {
        const int cap = cap_arc[static_cast<size_t>(t)];
        if (load[static_cast<size_t>(t)] < arcs[static_cast<size_t>(cap)].capacity) {
          (*tree)[static_cast<size_t>(sources) + static_cast<size_t>(t)] = cap;
        } else {
          (*tree)[static_cast<size_t>(sources) + static_cast<size_t>(t)] = cap + 1;
          upper->push_back(cap);
        }
      }
    };
    std::vector<int> tree, upper;
    basis(&tree, &upper);
    NetworkSimplex warm(root + 1, arcs, supply);
    ASSERT_TRUE(warm.Solve(root, tree, upper).ok());
    for (int step = 0; step < 4; ++step) {
      for (int c = 0; c < 3; ++c) {
        const auto t = static_cast<size_t>(next() * sinks);
        const auto a = static_cast<size_t>(cap_arc[t]);
        const double u = next();
        const double old = arcs[a].capacity;
        arcs[a].capacity = u < 0.15 ? 0.0 : old * (0.4 + 1.2 * u);
        ASSERT_TRUE(
            warm.SetCapacity(static_cast<int>(a), arcs[a].capacity, static_cast<int>(a) + 1).ok());
        ++capacity_changes;
      }
      const auto a = static_cast<size_t>(next() * sources * 3);
      arcs[a].cost = 1 + 50 * next();
      warm.SetCost(static_cast<int>(a), arcs[a].cost);
      ASSERT_TRUE(warm.Resolve().ok());
      basis(&tree, &upper);
      NetworkSimplex cold(root + 1, arcs, supply);
      ASSERT_TRUE(cold.Solve(root, tree, upper).ok());
      EXPECT_NEAR(warm.Objective(), cold.Objective(), 1e-9 * cold.Objective())
          << round << "/" << step;
      std::vector<double> balance(supply);
      for (size_t e = 0; e < arcs.size(); ++e) {
        const double f = warm.flow(static_cast<int>(e));
        EXPECT_GE(f, 0) << e;
        EXPECT_LE(f, arcs[e].capacity * (1 + 1e-12)) << e;
        balance[static_cast<size_t>(arcs[e].source)] -= f;
        balance[static_cast<size_t>(arcs[e].target)] += f;
      }
      for (double b : balance) EXPECT_NEAR(b, 0, 1e-9 * total);
    }
  }
  EXPECT_EQ(capacity_changes, 30 * 4 * 3);
}

TEST(NetworkSimplexTest, SetCapacityChecksItsArguments) {
  std::vector<NetworkSimplex::ArcSpec> arcs = {
      {0, 1, 5, 1}, {0, 1, NetworkSimplex::kInfinity, 9}, {0, 1, 3, 2}};
  NetworkSimplex ns(2, arcs, {4, -4});
  EXPECT_FALSE(ns.SetCapacity(0, 1, 1).ok());  // before Solve()
  ASSERT_TRUE(ns.Solve(1, {0, -1}, {}).ok());
  EXPECT_DOUBLE_EQ(ns.Objective(), 4);
  EXPECT_FALSE(ns.SetCapacity(0, 1, 2).ok());   // the bypass is capped
  EXPECT_FALSE(ns.SetCapacity(0, -1, 1).ok());  // negative capacity
  EXPECT_FALSE(ns.SetCapacity(0, 1, 0).ok());   // its own bypass
  // Tree arc 0 carries 4; capacity 1 moves 3 onto the bypass, then the
  // re-solve prefers arc 2 (cost 2) to the bypass (cost 9).
  ASSERT_TRUE(ns.SetCapacity(0, 1, 1).ok());
  ASSERT_TRUE(ns.Resolve().ok());
  EXPECT_DOUBLE_EQ(ns.flow(0), 1);
  EXPECT_DOUBLE_EQ(ns.flow(2), 3);
  EXPECT_DOUBLE_EQ(ns.flow(1), 0);
  EXPECT_DOUBLE_EQ(ns.Objective(), 1 + 6);
}

// Parking (SetParkingCost) leaves expensive arcs out of the pricing passes
// but must not change the optimum: on random transportation networks where
// about half the arcs are parked and many of them belong to the optimum
// (they are cheaper than overloading a sink), a parked solve, its warm cost
// and capacity re-solves, and a plain cold solve reach the same objective.
TEST(NetworkSimplexTest, ParkedArcsStillEnterWhenTheyPay) {
  Uniform next(777);
  const int sources = 40, sinks = 8, per_source = 4;
  const int root = sources + sinks;
  const double park = 30;
  int parked_in_optimum = 0;
  for (int round = 0; round < 25; ++round) {
    std::vector<NetworkSimplex::ArcSpec> arcs;
    std::vector<double> supply(static_cast<size_t>(root + 1), 0.0);
    std::vector<int> tree(static_cast<size_t>(root + 1), -1);
    std::vector<int> upper;
    double total = 0;
    std::vector<double> load(static_cast<size_t>(sinks), 0.0);
    for (int s = 0; s < sources; ++s) {
      supply[static_cast<size_t>(s)] = 1 + 10 * next();
      total += supply[static_cast<size_t>(s)];
      tree[static_cast<size_t>(s)] = static_cast<int>(arcs.size());
      load[static_cast<size_t>(s % sinks)] += supply[static_cast<size_t>(s)];
      for (int k = 0; k < per_source; ++k) {
        // The tree arc costs the most: every cheaper one must enter.
        const double cost = k == 0 ? 59 : 1 + 58 * next();
        arcs.push_back({s, sources + (s + k) % sinks, NetworkSimplex::kInfinity, cost});
      }
    }
    for (int t = 0; t < sinks; ++t) {
      AddSinkArcs(sources + t, root, total / sinks * (0.7 + 0.6 * next()), 1e3,
                  load[static_cast<size_t>(t)], &arcs,
                  &tree[static_cast<size_t>(sources) + static_cast<size_t>(t)], &upper);
    }
    supply[static_cast<size_t>(root)] = -total;
    NetworkSimplex parked(root + 1, arcs, supply);
    parked.SetParkingCost(park);
    ASSERT_TRUE(parked.Solve(root, tree, upper).ok());
    NetworkSimplex plain(root + 1, arcs, supply);
    ASSERT_TRUE(plain.Solve(root, tree, upper).ok());
    EXPECT_NEAR(parked.Objective(), plain.Objective(), 1e-9 * plain.Objective()) << round;
    for (size_t a = 0; a < static_cast<size_t>(sources) * static_cast<size_t>(per_source); ++a) {
      if (arcs[a].cost >= park && parked.flow(static_cast<int>(a)) > 0) ++parked_in_optimum;
    }
    // Warm: costs move across the parking cost, capacities change.
    for (int step = 0; step < 3; ++step) {
      for (int c = 0; c < 12; ++c) {
        const auto a = static_cast<size_t>(next() * sources * per_source);
        arcs[a].cost = 1 + 58 * next();
        parked.SetCost(static_cast<int>(a), arcs[a].cost);
      }
      const int t = static_cast<int>(next() * sinks);
      const int cap = sources * per_source + 2 * t;
      arcs[static_cast<size_t>(cap)].capacity *= 0.5 + next();
      ASSERT_TRUE(parked.SetCapacity(cap, arcs[static_cast<size_t>(cap)].capacity, cap + 1).ok());
      ASSERT_TRUE(parked.Resolve().ok());
      NetworkSimplex cold(root + 1, arcs, supply);
      std::vector<int> cold_upper;
      std::vector<int> cold_tree = tree;
      for (int s = 0; s < sinks; ++s) {
        const int c = sources * per_source + 2 * s;
        if (load[static_cast<size_t>(s)] < arcs[static_cast<size_t>(c)].capacity) {
          cold_tree[static_cast<size_t>(sources) + static_cast<size_t>(s)] = c;
        } else {
          cold_tree[static_cast<size_t>(sources) + static_cast<size_t>(s)] = c + 1;
          cold_upper.push_back(c);
        }
      }
      ASSERT_TRUE(cold.Solve(root, cold_tree, cold_upper).ok());
      EXPECT_NEAR(parked.Objective(), cold.Objective(), 1e-9 * cold.Objective())
          << round << "/" << step;
    }
  }
  // The case is meaningful: parked arcs did carry flow at the optimum.
  EXPECT_GT(parked_in_optimum, 100);
}

}  // namespace
}  // namespace vantage::optimizer
