#include "core/ip_address.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace vantage {
namespace {

TEST(IpAddressTest, ParsesAndFormatsBothFamilies) {
  auto v4 = IpAddress::Parse("198.18.3.4");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->v4_host_order(), 0xC6120304u);
  EXPECT_EQ(v4->ToString(), "198.18.3.4");

  auto v6 = IpAddress::Parse("2001:DB8:0:0::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->ToString(), "2001:db8::1");
  EXPECT_NE(*v4, *v6);
}

TEST(IpAddressTest, RejectsGarbage) {
  for (const char* bad : {"", "1.2.3", "1.2.3.256", "2001:db8:::1", "example.com", "1.2.3.4 "}) {
    EXPECT_FALSE(IpAddress::Parse(bad).ok()) << bad;
  }
}

TEST(PrefixTest, ParsesPrefixesAndBareAddresses) {
  auto p = Prefix::Parse("198.18.0.0/15");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->length(), 15);
  EXPECT_EQ(p->ToString(), "198.18.0.0/15");

  auto host = Prefix::Parse("2001:db8::7");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->length(), 128);
}

TEST(PrefixTest, RejectsHostBitsAndBadLengthsWithAHint) {
  auto p = Prefix::Parse("198.18.1.1/24");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("198.18.1.0/24"), std::string::npos) << p.status();
  EXPECT_FALSE(Prefix::Parse("198.18.0.0/33").ok());
  EXPECT_FALSE(Prefix::Parse("2001:db8::/129").ok());
  EXPECT_FALSE(Prefix::Parse("198.18.0.0/").ok());
  EXPECT_FALSE(Prefix::Parse("198.18.0.0/-1").ok());
}

TEST(PrefixTest, ContainsRespectsFamilyAndLength) {
  const Prefix lab = *Prefix::Parse("198.18.0.0/15");
  EXPECT_TRUE(lab.Contains(*IpAddress::Parse("198.19.255.255")));
  EXPECT_FALSE(lab.Contains(*IpAddress::Parse("198.20.0.0")));
  EXPECT_FALSE(lab.Contains(*IpAddress::Parse("::ffff:198.18.0.1")));
  EXPECT_TRUE(lab.Contains(*Prefix::Parse("198.18.4.0/24")));
  EXPECT_FALSE(Prefix::Parse("198.18.4.0/24")->Contains(lab));
  EXPECT_TRUE(Prefix::Parse("0.0.0.0/0")->Contains(*IpAddress::Parse("8.8.8.8")));
}

TEST(PrefixTest, TruncatesToClientAggregates) {
  EXPECT_EQ(Prefix::Host(*IpAddress::Parse("198.18.7.201")).ClientAggregate().ToString(),
            "198.18.7.0/24");
  EXPECT_EQ(Prefix::Host(*IpAddress::Parse("2001:db8:aa:bb:cc::1")).ClientAggregate().ToString(),
            "2001:db8:aa::/48");
  // A prefix already shorter than the aggregate stays as it is.
  EXPECT_EQ(Prefix::Parse("198.18.0.0/16")->ClientAggregate().ToString(), "198.18.0.0/16");
  EXPECT_EQ(Prefix::Parse("198.18.0.0/16")->Truncate(9).ToString(), "198.0.0.0/9");
  // Odd lengths mask within a byte.
  EXPECT_EQ(Prefix(*IpAddress::Parse("198.18.255.255"), 19).ToString(), "198.18.224.0/19");
}

TEST(IpAddressTest, MaskedKeepsExactlyTheLeadingBits) {
  uint8_t all_ones[16];
  std::memset(all_ones, 0xff, sizeof(all_ones));
  for (const IpAddress& a : {IpAddress::V4Bytes(all_ones), IpAddress::V6Bytes(all_ones)}) {
    for (int length = -1; length <= a.bit_width() + 1; ++length) {
      const IpAddress m = a.Masked(length);
      const int kept = std::clamp(length, 0, a.bit_width());
      EXPECT_EQ(m.family(), a.family());
      for (int bit = 0; bit < 128; ++bit) {
        const bool set = (m.bytes()[bit / 8] >> (7 - bit % 8) & 1) != 0;
        EXPECT_EQ(set, bit < kept) << a.ToString() << "/" << length << " bit " << bit;
      }
    }
  }
}

TEST(EndpointTest, ParsesWithAndWithoutPorts) {
  auto a = Endpoint::Parse("198.18.0.1:53");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port(), 53);
  auto b = Endpoint::Parse("[2001:db8::1]:853");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port(), 853);
  EXPECT_EQ(b->ToString(), "[2001:db8::1]:853");
  auto c = Endpoint::Parse("2001:db8::1", 53);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port(), 53);
  EXPECT_FALSE(Endpoint::Parse("198.18.0.1").ok());  // no port, no default
  EXPECT_FALSE(Endpoint::Parse("198.18.0.1:65536").ok());
  EXPECT_FALSE(Endpoint::Parse("[2001:db8::1").ok());
}

TEST(EndpointTest, SockaddrRoundTrip) {
  for (const char* text : {"198.18.0.1:862", "[2001:db8::5]:862"}) {
    const Endpoint e = *Endpoint::Parse(text);
    sockaddr_storage ss{};
    ASSERT_GT(e.ToSockaddr(&ss), 0u);
    auto back = Endpoint::FromSockaddr(reinterpret_cast<const sockaddr*>(&ss));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, e);
  }
}

TEST(PrefixTest, AssignV4MaskedEqualsTheMaskingConstructor) {
  // Over a prefix of the other family and over an IPv4 one, at every
  // length: every byte of the old value is replaced.
  const IpAddress address = IpAddress::Parse("198.51.100.77").value();
  for (int length = 0; length <= 32; ++length) {
    const Prefix expected(address, length);
    uint32_t bytes;
    std::memcpy(&bytes, expected.address().bytes(), 4);
    for (const char* before : {"2001:db8:ffff:ffff::/64", "10.255.255.255/32"}) {
      Prefix p = Prefix::Parse(before).value();
      p.AssignV4Masked(bytes, length);
      EXPECT_EQ(p, expected) << length << " " << before;
      EXPECT_EQ(p.ToString(), expected.ToString());
      EXPECT_TRUE(p.address().is_v4());
    }
  }
}

}  // namespace
}  // namespace vantage
