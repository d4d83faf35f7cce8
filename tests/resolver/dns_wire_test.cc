#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "resolver/dns_query_builder.h"
#include "resolver/dns_question.h"
#include "resolver/dns_response.h"
#include "resolver/dns_stream_framer.h"
#include "resolver/posix_dns_transport.h"
#include "tests/resolver/dns_test_util.h"

namespace vantage::resolver {
namespace {

using ::testing::ElementsAre;

std::vector<uint8_t> Query(const DnsQuestion& q, uint16_t id = 0x1234, DnsQueryOptions o = {}) {
  auto wire = BuildDnsQuery(q, id, o);
  EXPECT_TRUE(wire.ok()) << wire.status();
  return *wire;
}

TEST(DnsQuestionTest, ParsesTypesAndNames) {
  EXPECT_EQ(*ParseDnsType("aaaa"), kTypeAaaa);
  EXPECT_EQ(*ParseDnsType("TYPE65"), 65);
  EXPECT_EQ(*ParseDnsType("99"), 99);
  EXPECT_FALSE(ParseDnsType("BOGUS").ok());
  EXPECT_FALSE(ParseDnsType("TYPE70000").ok());
  EXPECT_EQ(DnsTypeName(kTypeTxt), "TXT");
  EXPECT_EQ(DnsTypeName(999), "TYPE999");
  EXPECT_EQ(DnsRcodeName(3), "NXDOMAIN");
  EXPECT_EQ(*NormalizeDnsName("WWW.Example.COM."), "www.example.com");
  EXPECT_EQ(*NormalizeDnsName("."), "");
  EXPECT_FALSE(NormalizeDnsName("a..b").ok());
  EXPECT_FALSE(NormalizeDnsName(std::string(64, 'a') + ".com").ok());
  EXPECT_FALSE(NormalizeDnsName("a\\.b").ok());
}

TEST(DnsQueryBuilderTest, BuildsQueryWithNsidOption) {
  const auto q = Query({"www.Example.test", kTypeAaaa, kClassIn}, 0xbeef);
  // Header: ID, RD, one question, one additional (OPT).
  EXPECT_THAT(std::vector<uint8_t>(q.begin(), q.begin() + 12),
              ElementsAre(0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1));
  // OPT: root, type 41, class 1232, ttl 0, rdlen 4, NSID option code 3, len 0.
  EXPECT_THAT(std::vector<uint8_t>(q.end() - 15, q.end()),
              ElementsAre(0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0));
  // The name is lower-cased on the wire.
  EXPECT_EQ(q[13], 'w');
  EXPECT_EQ(q[17], 'e');
}

TEST(DnsQueryBuilderTest, OptionsChangeTheQuery) {
  DnsQueryOptions plain;
  plain.edns = false;
  plain.nsid = false;
  plain.recursion_desired = false;
  const auto q = Query({"a.test", kTypeA, kClassIn}, 1, plain);
  EXPECT_EQ(q.size(), 12u + 8u + 4u);
  EXPECT_EQ(q[2], 0);
  EXPECT_EQ(q[11], 0);
  DnsQueryOptions bad;
  bad.edns = false;
  bad.nsid = true;
  EXPECT_FALSE(BuildDnsQuery({"a.test", kTypeA, kClassIn}, 1, bad).ok());
}

TEST(DnsResponseTest, ParsesAnswerNsidAndExtendedRcode) {
  const auto q = Query({"www.example.test", kTypeA, kClassIn});
  testing::FakeAnswer a;
  a.a_records = {{198, 18, 0, 1}, {198, 18, 0, 2}};
  a.nsid = "pop-a";
  a.extended_rcode = 1;  // with header rcode 0: BADVERS (16)
  const auto wire = testing::MakeAnswer(q, a);
  auto r = ParseDnsResponse(wire);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->id, 0x1234);
  EXPECT_TRUE(r->qr);
  EXPECT_TRUE(r->aa);
  EXPECT_FALSE(r->tc);
  EXPECT_EQ(r->rcode, 16);
  EXPECT_EQ(r->ancount, 2);
  ASSERT_TRUE(r->question.has_value());
  EXPECT_EQ(r->question->name, "www.example.test");
  EXPECT_EQ(r->question->type, kTypeA);
  EXPECT_TRUE(r->has_opt);
  EXPECT_EQ(r->edns_udp_size, 1232);
  ASSERT_TRUE(r->nsid.has_value());
  EXPECT_EQ(*r->nsid, "pop-a");
  EXPECT_FALSE(r->txt.has_value());
}

TEST(DnsResponseTest, ParsesChaosTxt) {
  const auto q = Query({"hostname.bind", kTypeTxt, kClassChaos});
  testing::FakeAnswer a;
  a.txt = std::vector<std::string>{"fra", "-1"};
  a.opt = false;
  auto r = ParseDnsResponse(testing::MakeAnswer(q, a));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->txt.has_value());
  EXPECT_EQ(*r->txt, "fra-1");
  EXPECT_EQ(r->question->qclass, kClassChaos);
  EXPECT_FALSE(r->has_opt);
  EXPECT_FALSE(r->nsid.has_value());
}

TEST(DnsResponseTest, ClassifiesMalformedAnswers) {
  const auto q = Query({"www.example.test", kTypeA, kClassIn});
  testing::FakeAnswer a;
  a.a_records = {{1, 2, 3, 4}};
  a.nsid = "x";
  const auto good = testing::MakeAnswer(q, a);
  ASSERT_TRUE(ParseDnsResponse(good).ok());

  // Too short for a header: garbage.
  EXPECT_TRUE(absl::IsInvalidArgument(ParseDnsResponse(std::vector<uint8_t>(11, 0)).status()));
  // The query itself (QR clear): garbage.
  EXPECT_TRUE(absl::IsInvalidArgument(ParseDnsResponse(q).status()));
  // Every cut inside the records is "truncated" (OutOfRange); none crashes.
  const size_t qlen = testing::QueryHeaderAndQuestionLength(q);
  for (size_t cut = qlen; cut < good.size(); ++cut) {
    auto r = ParseDnsResponse(absl::MakeConstSpan(good.data(), cut));
    EXPECT_TRUE(absl::IsOutOfRange(r.status())) << "cut at " << cut << ": " << r.status();
  }
  // A compression pointer to itself: garbage.
  auto loop = good;
  loop[qlen] = 0xc0;
  loop[qlen + 1] = static_cast<uint8_t>(qlen);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseDnsResponse(loop).status()));
  // NSID option length beyond its RR: garbage.
  auto opt = good;
  opt[opt.size() - 2] = 0x40;  // NSID option length 64, 1 byte follows
  EXPECT_TRUE(absl::IsInvalidArgument(ParseDnsResponse(opt).status()));
}

TEST(DnsResponseTest, RejectsTwoOptRecords) {
  const auto q = Query({"a.test", kTypeA, kClassIn});
  testing::FakeAnswer a;
  auto wire = testing::MakeAnswer(q, a);
  // Append a second copy of the 11-byte OPT RR and bump ARCOUNT.
  wire.insert(wire.end(), wire.end() - 11, wire.end());
  wire[11] = 2;
  EXPECT_TRUE(absl::IsInvalidArgument(ParseDnsResponse(wire).status()));
}

TEST(DnsResponseTest, PrintableNsid) {
  EXPECT_EQ(PrintableNsid("pop-a"), "pop-a");
  EXPECT_EQ(PrintableNsid(std::string("\x01\xff", 2)), "0x01ff");
}

TEST(DnsStreamFramerTest, SplitsAcrossArbitraryBoundaries) {
  const std::vector<uint8_t> stream = {0, 2, 'a', 'b', 0, 0, 0, 3, 'c', 'd', 'e'};
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    DnsStreamFramer framer;
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      const size_t n = std::min(chunk, stream.size() - i);
      framer.Feed(absl::MakeConstSpan(stream.data() + i, n),
                  [&](absl::Span<const uint8_t> m) { got.emplace_back(m.begin(), m.end()); });
    }
    EXPECT_THAT(got, ElementsAre("ab", "", "cde")) << "chunk " << chunk;
    EXPECT_EQ(framer.buffered(), 0u);
  }
}

}  // namespace
}  // namespace vantage::resolver

namespace vantage::resolver {
namespace {

// Regression: c-ares 1.18 does not make sockets from user socket functions
// non-blocking; a blocking UDP socket hung the loop in recvmsg once the
// channel kept its socket open.
TEST(PosixDnsTransportTest, SocketsAreNonBlockingAndStamped) {
  PosixDnsTransport transport;
  for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
    const int fd = transport.Socket(AF_INET, type, 0);
    ASSERT_GE(fd, 0);
    EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << type;
    int on = 0;
    socklen_t len = sizeof(on);
    ASSERT_EQ(getsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, &len), 0);
    EXPECT_EQ(on, 1);
    char buf[16];
    DnsReceiveInfo info;
    if (type == SOCK_DGRAM) {
      EXPECT_EQ(transport.RecvFrom(fd, true, buf, sizeof(buf), nullptr, nullptr, &info), -1);
      EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    EXPECT_EQ(transport.Close(fd), 0);
  }
}

}  // namespace
}  // namespace vantage::resolver
