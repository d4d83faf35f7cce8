#include "lab/forwarder.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/lab/test_packets.h"

namespace vantage::lab {
namespace {

using testing::Ip;
using testing::MakePacket;

constexpr char kTopology[] = R"(pops:
  - {name: a, addresses: [198.18.1.1, "2001:db8:1::1"], services: [198.19.0.53]}
  - {name: b, addresses: [198.18.1.2], services: [198.19.0.53]}
regions:
  - {name: r, addresses: [198.18.2.1, "2001:db8:2::1"], catchment: a}
  - {name: s, addresses: [198.18.2.2]}
router: {addresses: [198.18.0.1], delay_ms: 1}
links:
  - pop: a
    region: r
    to_pop: {delay_ms: 10}
    to_region: {delay_ms: 20}
  - {pop: b, region: r, delay_ms: 3}
  - {pop: b, region: s, delay_ms: 3, queue_limit: 2}
)";

const absl::Time kT0 = absl::FromUnixSeconds(5000);

struct Delivery {
  NodeId to;
  uint8_t tag;
  absl::Time at;
  DepartureTimes times;
};

class ForwarderTest : public ::testing::Test {
 protected:
  ForwarderTest() : topology_(*ParseTopology(kTopology, "t")), fwd_(topology_, 42) {}

  NodeId Node(const char* name) { return *fwd_.routing().FindNode(name); }

  // Delivers everything due up to `until`, stepping the fake time from
  // departure to departure as the Emulator's timer would.
  void RunUntil(absl::Time until) {
    while (fwd_.NextWrite() <= until) {
      const absl::Time now = fwd_.NextWrite();
      fwd_.DeliverDue(now,
                      [&](NodeId to, const std::vector<uint8_t>& p, const DepartureTimes& times) {
                        delivered_.push_back({to, p.back(), now, times});
                      });
    }
  }

  Topology topology_;
  Forwarder fwd_;
  std::vector<Delivery> delivered_;
};

TEST_F(ForwarderTest, UnicastUsesEachDirectionsDelay) {
  EXPECT_EQ(fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 1), kT0),
            Forwarder::Verdict::kQueued);
  EXPECT_EQ(fwd_.Ingress(Node("a"), MakePacket(Ip("2001:db8:1::1"), Ip("2001:db8:2::1"), 2), kT0),
            Forwarder::Verdict::kQueued);
  EXPECT_EQ(fwd_.NextWrite(), kT0 + absl::Milliseconds(10));
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].to, Node("a"));
  EXPECT_EQ(delivered_[0].at, kT0 + absl::Milliseconds(10));
  EXPECT_EQ(delivered_[1].to, Node("r"));
  EXPECT_EQ(delivered_[1].at, kT0 + absl::Milliseconds(20));
  EXPECT_EQ(fwd_.held(), 0u);
}

TEST_F(ForwarderTest, NothingLeavesEarly) {
  ASSERT_EQ(fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1")), kT0),
            Forwarder::Verdict::kQueued);
  auto ignore = [](NodeId, const auto&, const auto&) {};
  EXPECT_EQ(fwd_.DeliverDue(kT0 + absl::Microseconds(9999), ignore), 0u);
  EXPECT_EQ(fwd_.DeliverDue(kT0 + absl::Milliseconds(10), ignore), 1u);
}

TEST_F(ForwarderTest, AnycastGoesToTheCatchmentAndMoves) {
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.19.0.53"), 1), kT0);
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_TRUE(fwd_.SetCatchment("r", "b").ok());
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.19.0.53"), 2),
               kT0 + absl::Seconds(1));
  RunUntil(kT0 + absl::Seconds(2));
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].to, Node("a"));
  EXPECT_EQ(delivered_[1].to, Node("b"));
  EXPECT_EQ(delivered_[1].at, kT0 + absl::Seconds(1) + absl::Milliseconds(3));
}

TEST_F(ForwarderTest, CountsNoRouteAndMalformed) {
  // s <-> a has no link.
  EXPECT_EQ(fwd_.Ingress(Node("s"), MakePacket(Ip("198.18.2.2"), Ip("198.18.1.1")), kT0),
            Forwarder::Verdict::kNoRoute);
  // Region to region never has a link.
  EXPECT_EQ(fwd_.Ingress(Node("s"), MakePacket(Ip("198.18.2.2"), Ip("198.18.2.1")), kT0),
            Forwarder::Verdict::kNoRoute);
  EXPECT_EQ(fwd_.Ingress(Node("s"), std::vector<uint8_t>{0x45, 0}, kT0),
            Forwarder::Verdict::kMalformed);
  EXPECT_EQ(fwd_.no_route(), 2u);
  EXPECT_EQ(fwd_.malformed(), 1u);
}

TEST_F(ForwarderTest, PopsReachTheRouter) {
  EXPECT_EQ(fwd_.Ingress(Node("b"), MakePacket(Ip("198.18.1.2"), Ip("198.18.0.1")), kT0),
            Forwarder::Verdict::kQueued);
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(delivered_[0].to, Node("router"));
  EXPECT_EQ(delivered_[0].at, kT0 + absl::Milliseconds(1));
}

TEST_F(ForwarderTest, QueueLimitDropsAndCounts) {
  for (int i = 0; i < 3; ++i) {
    fwd_.Ingress(Node("s"), MakePacket(Ip("198.18.2.2"), Ip("198.18.1.2")), kT0);
  }
  bool found = false;
  for (const LinkStatus& l : fwd_.Links()) {
    if (l.from == "s" && l.to == "b") {
      found = true;
      EXPECT_EQ(l.counters.queue_dropped, 1u);
      EXPECT_EQ(l.counters.queued, 2u);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(ForwarderTest, SetLinkChangesOnlyTheChosenDirection) {
  LinkPatch patch;
  patch.delay = absl::Milliseconds(1);
  ASSERT_TRUE(fwd_.SetLink("a", "r", "to_region", patch).ok());
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 1), kT0);
  fwd_.Ingress(Node("a"), MakePacket(Ip("198.18.1.1"), Ip("198.18.2.1"), 2), kT0);
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].tag, 2);
  EXPECT_EQ(delivered_[0].at, kT0 + absl::Milliseconds(1));
  EXPECT_EQ(delivered_[1].at, kT0 + absl::Milliseconds(10));
  EXPECT_FALSE(fwd_.SetLink("a", "s", "both", patch).ok());
  EXPECT_FALSE(fwd_.SetLink("a", "r", "sideways", patch).ok());
  patch.loss = 2;
  EXPECT_FALSE(fwd_.SetLink("a", "r", "both", patch).ok());
}

TEST_F(ForwarderTest, KeepsOrderWithinADirectionUnderJitter) {
  LinkPatch patch;
  patch.jitter = absl::Milliseconds(2);
  ASSERT_TRUE(fwd_.SetLink("b", "r", "both", patch).ok());
  for (int i = 0; i < 200; ++i) {
    fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.2"), static_cast<uint8_t>(i)),
                 kT0 + absl::Microseconds(50 * i));
  }
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(delivered_[i].tag, i);
}

// The write lead of the receiving node moves the write time, not the
// departure; the sending node's lead and the other direction are untouched.
TEST_F(ForwarderTest, WriteLeadWritesEarlierThanTheDeparture) {
  fwd_.SetWriteLead(Node("a"), absl::Microseconds(30));
  EXPECT_EQ(fwd_.write_lead(Node("a")), absl::Microseconds(30));
  fwd_.SetWriteLead(Node("r"), absl::Microseconds(-5));  // never negative
  EXPECT_EQ(fwd_.write_lead(Node("r")), absl::ZeroDuration());
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 1), kT0,
               kT0 + absl::Microseconds(40));
  fwd_.Ingress(Node("a"), MakePacket(Ip("198.18.1.1"), Ip("198.18.2.1"), 2), kT0);
  EXPECT_EQ(fwd_.NextWrite(), kT0 + absl::Milliseconds(10) - absl::Microseconds(30));
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].to, Node("a"));
  EXPECT_EQ(delivered_[0].at, kT0 + absl::Milliseconds(10) - absl::Microseconds(30));
  EXPECT_EQ(delivered_[0].times.departure, kT0 + absl::Milliseconds(10));
  EXPECT_EQ(delivered_[0].times.read_at, kT0 + absl::Microseconds(40));
  EXPECT_EQ(delivered_[1].at, kT0 + absl::Milliseconds(20));
  EXPECT_EQ(delivered_[1].times.write_at, delivered_[1].times.departure);
  EXPECT_EQ(delivered_[1].times.read_at, kT0);
}

// A lead that grows between two packets of one direction does not let the
// second pass the first.
TEST_F(ForwarderTest, AGrowingLeadKeepsFifoOrder) {
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 1), kT0);
  fwd_.SetWriteLead(Node("a"), absl::Microseconds(50));
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 2),
               kT0 + absl::Microseconds(20));
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0].tag, 1);
  EXPECT_EQ(delivered_[1].tag, 2);
  EXPECT_EQ(delivered_[1].at, kT0 + absl::Milliseconds(10));
  EXPECT_EQ(delivered_[1].times.departure, kT0 + absl::Milliseconds(10) + absl::Microseconds(20));
}

TEST_F(ForwarderTest, RecordsResidualsPerDirection) {
  fwd_.Ingress(Node("r"), MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 1), kT0);
  RunUntil(kT0 + absl::Seconds(1));
  ASSERT_EQ(delivered_.size(), 1u);
  fwd_.RecordResidual(delivered_[0].times.direction, absl::Microseconds(3));
  fwd_.RecordResidual(-1, absl::Microseconds(3));  // ignored
  for (const LinkStatus& l : fwd_.Links()) {
    EXPECT_EQ(l.residual.count(), l.from == "r" && l.to == "a" ? 1u : 0u) << l.from << l.to;
  }
}

}  // namespace
}  // namespace vantage::lab
