#include "lab/packet_header.h"

#include <gtest/gtest.h>

#include "tests/lab/test_packets.h"

namespace vantage::lab {
namespace {

using testing::Ip;
using testing::MakePacket;

TEST(PacketHeaderTest, ParsesIpv4AndIpv6) {
  auto v4 = MakePacket(Ip("198.18.2.1"), Ip("198.19.0.53"));
  auto a = ParsePacketAddresses(v4.data(), v4.size());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->source, Ip("198.18.2.1"));
  EXPECT_EQ(a->destination, Ip("198.19.0.53"));
  auto v6 = MakePacket(Ip("2001:db8:2::1"), Ip("2001:db8:53::53"));
  a = ParsePacketAddresses(v6.data(), v6.size());
  ASSERT_TRUE(a);
  EXPECT_EQ(a->destination, Ip("2001:db8:53::53"));
}

TEST(PacketHeaderTest, RejectsTruncatedAndUnknown) {
  auto v4 = MakePacket(Ip("198.18.2.1"), Ip("198.19.0.53"));
  EXPECT_FALSE(ParsePacketAddresses(v4.data(), 19));
  v4[0] = 0x4f;  // header length 60 > packet
  EXPECT_FALSE(ParsePacketAddresses(v4.data(), v4.size()));
  v4[0] = 0x44;  // header length 16 < 20
  EXPECT_FALSE(ParsePacketAddresses(v4.data(), v4.size()));
  auto v6 = MakePacket(Ip("2001:db8:2::1"), Ip("2001:db8:53::53"));
  EXPECT_FALSE(ParsePacketAddresses(v6.data(), 39));
  v6[0] = 0x50;
  EXPECT_FALSE(ParsePacketAddresses(v6.data(), v6.size()));
  EXPECT_FALSE(ParsePacketAddresses(v6.data(), 0));
}

}  // namespace
}  // namespace vantage::lab
