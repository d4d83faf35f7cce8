#include "probe/crypto_pan.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "probe/client_prefixer.h"

namespace vantage::probe {
namespace {

IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }

// The sample key of the Crypto-PAn reference distribution.
std::string ReferenceKey() {
  const uint8_t key[32] = {21,  34,  23,  141, 51,  164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
                           216, 152, 143, 131, 121, 121, 101, 39,  98, 87, 76, 45, 42, 132, 34,  2};
  return std::string(reinterpret_cast<const char*>(key), 32);
}

TEST(CryptoPanTest, MatchesReferenceVectors) {
  auto pan = CryptoPan::Create(ReferenceKey());
  ASSERT_TRUE(pan.ok());
  const std::pair<const char*, const char*> vectors[] = {
      {"128.11.68.132", "135.242.180.132"},   {"129.118.74.4", "134.136.186.123"},
      {"130.132.252.244", "133.68.164.234"},  {"141.223.7.43", "141.167.8.160"},
      {"141.233.145.108", "141.129.237.235"}, {"152.163.225.39", "151.140.114.167"},
      {"156.29.3.236", "147.225.12.42"},      {"165.247.96.84", "162.9.99.234"},
  };
  for (const auto& [in, out] : vectors) {
    EXPECT_EQ((*pan)->Anonymize(Ip(in)).ToString(), out) << in;
  }
}

TEST(CryptoPanTest, PrefixPreservingForBothFamilies) {
  auto pan = CryptoPan::Create(ReferenceKey());
  ASSERT_TRUE(pan.ok());
  const IpAddress a = Ip("2001:db8:aaaa:1::1");
  const IpAddress b = Ip("2001:db8:aaaa:2::1");
  const IpAddress x = (*pan)->Anonymize(a);
  const IpAddress y = (*pan)->Anonymize(b);
  EXPECT_NE(x, a);
  EXPECT_EQ(Prefix(x, 48), Prefix(y, 48));  // shared /48 stays shared
  EXPECT_NE(Prefix(x, 64), Prefix(y, 64));  // differing /64s stay different
  // A prefix's pseudonym is the prefix of its addresses' pseudonyms.
  EXPECT_EQ((*pan)->AnonymizePrefix(Prefix(a, 48)), Prefix(x, 48));
  const IpAddress v4 = Ip("198.18.7.9");
  EXPECT_EQ((*pan)->AnonymizePrefix(Prefix(v4, 24)), Prefix((*pan)->Anonymize(v4), 24));
  EXPECT_FALSE(CryptoPan::Create("too short").ok());
}

TEST(ClientPrefixerTest, AggregatesThenPseudonymises) {
  ClientPrefixer prefixer(24, 48);
  EXPECT_EQ(prefixer.ClientPrefix(Ip("198.18.7.9")), Prefix::Parse("198.18.7.0/24").value());
  EXPECT_EQ(prefixer.ClientPrefix(Ip("2001:db8:1:2::3")), Prefix::Parse("2001:db8:1::/48").value());
  EXPECT_FALSE(prefixer.anonymizing());
  ASSERT_TRUE(prefixer.SetKey(ReferenceKey()).ok());
  EXPECT_TRUE(prefixer.anonymizing());
  const Prefix p = prefixer.ClientPrefix(Ip("128.11.68.132"));
  EXPECT_EQ(p, Prefix::Parse("135.242.180.0/24").value());  // the reference pseudonym's /24
  EXPECT_EQ(prefixer.ClientPrefix(Ip("128.11.68.1")), p);   // cached, same /24
}

TEST(ClientPrefixerTest, CachedPseudonymsEqualFreshOnesAcrossOverflowAndRotation) {
  // More /24s than the cache holds, each asked twice (the second from the
  // cache, or recomputed after an overflow cleared it), then under a new
  // key: every answer equals an independent CryptoPan's.
  ClientPrefixer prefixer(24, 48);
  std::string key = ReferenceKey();
  for (int rotation = 0; rotation < 2; ++rotation) {
    ASSERT_TRUE(prefixer.SetKey(key).ok());
    auto pan = CryptoPan::Create(key);
    ASSERT_TRUE(pan.ok());
    const uint32_t count = ClientPrefixer::kMaxCachedPrefixes + 300;
    for (uint32_t pass = 0; pass < 2; ++pass) {
      for (uint32_t i = 0; i < count; i += pass == 0 ? 1 : 97) {
        // Distinct /24s (i in the upper 24 bits), a varying host byte.
        const IpAddress address = IpAddress::V4((i << 8) | ((i * 7 + pass) & 0xff));
        const Prefix got = prefixer.ClientPrefix(address);
        ASSERT_EQ(got, (*pan)->AnonymizePrefix(Prefix(address, 24))) << i << " " << pass;
        ASSERT_EQ(got.length(), 24);
      }
    }
    // IPv6 beside it, from its own cache.
    const IpAddress v6 = Ip("2001:db8:aaaa:1::1");
    EXPECT_EQ(prefixer.ClientPrefix(v6), (*pan)->AnonymizePrefix(Prefix(v6, 48)));
    EXPECT_EQ(prefixer.ClientPrefix(v6), (*pan)->AnonymizePrefix(Prefix(v6, 48)));
    key[0] = static_cast<char>(key[0] ^ 0x5a);
  }
  EXPECT_EQ(prefixer.key_epoch(), 2u);
}

TEST(ClientPrefixerTest, ClientPrefixV4EqualsTheGeneralPrefixAtEveryLength) {
  // In place over whatever the Prefix held (an IPv6 prefix here), at every
  // length, with and without a key: what ClientPrefix(IpAddress) and an
  // independent Prefix / CryptoPan give.
  std::mt19937 random(3);
  for (int length = -1; length <= 33; ++length) {
    ClientPrefixer plain(length, 48);
    ClientPrefixer keyed(length, 48);
    ASSERT_TRUE(keyed.SetKey(ReferenceKey()).ok());
    auto pan = CryptoPan::Create(ReferenceKey());
    ASSERT_TRUE(pan.ok());
    for (int i = 0; i < 64; ++i) {
      const uint32_t host_order = static_cast<uint32_t>(random());
      const IpAddress address = IpAddress::V4(host_order);
      uint32_t bytes;
      std::memcpy(&bytes, address.bytes(), 4);
      const Prefix expected(address, length);
      Prefix got = Prefix::Parse("2001:db8:ffff:ffff::/64").value();
      plain.ClientPrefixV4(bytes, &got);
      ASSERT_EQ(got, expected) << length << " " << i;
      ASSERT_EQ(got.ToString(), expected.ToString());
      ASSERT_EQ(got, plain.ClientPrefix(address));
      Prefix pseudonym = Prefix::Parse("2001:db8:ffff:ffff::/64").value();
      keyed.ClientPrefixV4(bytes, &pseudonym);  // computed, then from the cache
      ASSERT_EQ(pseudonym, (*pan)->AnonymizePrefix(expected)) << length << " " << i;
      keyed.ClientPrefixV4(bytes, &pseudonym);
      ASSERT_EQ(pseudonym, (*pan)->AnonymizePrefix(expected)) << length << " " << i;
    }
  }
}

}  // namespace
}  // namespace vantage::probe
