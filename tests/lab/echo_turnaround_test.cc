#include "lab/echo_turnaround.h"

#include <gtest/gtest.h>

#include "tests/lab/test_packets.h"

namespace vantage::lab {
namespace {

using testing::Ip;
using testing::MakePacket;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

// An ICMP (v4) or ICMPv6 echo of `type` with identifier 7 and `sequence`.
std::vector<uint8_t> Echo(const char* src, const char* dst, uint8_t type, uint8_t sequence) {
  std::vector<uint8_t> p = MakePacket(Ip(src), Ip(dst));
  const bool v4 = p[0] >> 4 == 4;
  const size_t icmp = v4 ? 20 : 40;
  p[v4 ? 9 : 6] = v4 ? 1 : 58;
  p[icmp] = type;
  p[icmp + 5] = 7;
  p[icmp + 7] = sequence;
  return p;
}

TEST(EchoTurnaroundTest, PairsRequestAndReplyPerNode) {
  EchoTurnaround t(3);
  const auto request = Echo("198.18.2.1", "198.18.1.1", 8, 1);
  const auto reply = Echo("198.18.1.1", "198.18.2.1", 0, 1);
  t.Delivered(1, request.data(), request.size(), kT0);
  // Another sequence number, or the same reply on another node: no pair.
  const auto other = Echo("198.18.1.1", "198.18.2.1", 0, 2);
  t.Transmitted(1, other.data(), other.size(), kT0 + absl::Microseconds(5));
  t.Transmitted(2, reply.data(), reply.size(), kT0 + absl::Microseconds(5));
  EXPECT_EQ(t.node(1).count(), 0u);
  t.Transmitted(1, reply.data(), reply.size(), kT0 + absl::Microseconds(12));
  EXPECT_EQ(t.node(1).count(), 1u);
  EXPECT_DOUBLE_EQ(t.node(1).QuantileUs(0.5), 12.5);
  // Paired once only.
  t.Transmitted(1, reply.data(), reply.size(), kT0 + absl::Microseconds(40));
  EXPECT_EQ(t.node(1).count(), 1u);
  EXPECT_EQ(t.node(2).count(), 0u);
}

TEST(EchoTurnaroundTest, Ipv6AndNonEchoPackets) {
  EchoTurnaround t(1);
  const auto request = Echo("2001:db8:2::1", "2001:db8:1::1", 128, 9);
  const auto reply = Echo("2001:db8:1::1", "2001:db8:2::1", 129, 9);
  t.Delivered(0, request.data(), request.size(), kT0);
  t.Transmitted(0, reply.data(), reply.size(), kT0 + absl::Microseconds(3));
  EXPECT_EQ(t.node(0).count(), 1u);
  const auto udp = MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"));
  t.Delivered(0, udp.data(), udp.size(), kT0);
  t.Transmitted(0, udp.data(), udp.size(), kT0);
  const uint8_t junk[3] = {0x45, 0, 0};
  t.Delivered(0, junk, sizeof(junk), kT0);
  EXPECT_EQ(t.node(0).count(), 1u);
}

TEST(EchoTurnaroundTest, ForgetsEverythingWhenTooManyWait) {
  EchoTurnaround t(1);
  for (size_t i = 0; i <= EchoTurnaround::kMaxPending; ++i) {
    auto request = Echo("198.18.2.1", "198.18.1.1", 8, static_cast<uint8_t>(i));
    request[24] = static_cast<uint8_t>(i >> 8);  // identifier high byte
    t.Delivered(0, request.data(), request.size(), kT0);
  }
  EXPECT_EQ(t.dropped(), EchoTurnaround::kMaxPending);
}

}  // namespace
}  // namespace vantage::lab
