#include "probe/probe_codec.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/probe/active_probe_fakes.h"

namespace vantage::probe {
namespace {

using testing::IcmpErrorPacket;
using testing::ReplyPacket;
using testing::RequestPacket;
using testing::SentProbe;

IpAddress Ip(const char* s) { return *IpAddress::Parse(s); }

class ProbeCodecTest : public ::testing::TestWithParam<const char*> {
 protected:
  ProbeCodecTest() : codec_(ProbeSecret::FromKey(1, 2), 4, 62000, {40000, 40001, 40002, 40003}) {}

  SentProbe Build(uint32_t target, uint8_t flow, uint32_t seq) {
    SentProbe p;
    p.destination = codec_.target(target).address;
    p.flow = flow;
    codec_.BuildProbe(target, flow, seq,
                      p.destination.is_v4() ? Ip("198.18.0.1") : Ip("2001:db8::1"), absl::Now(), 0,
                      &p.packet);
    return p;
  }
  PacketClassification Classify(const std::vector<uint8_t>& bytes) {
    auto view = ParseIpPacket(bytes);
    EXPECT_TRUE(view.has_value());
    return codec_.Classify(*view);
  }

  ProbeCodec codec_;
};

TEST_P(ProbeCodecTest, RequestAndReplyMatchEveryMethod) {
  const IpAddress target = Ip(GetParam());
  for (const char* method : {"icmp", "tcp:443", "stamp"}) {
    SCOPED_TRACE(method);
    const uint32_t t = *codec_.AddTarget({target, *ProbeMethodSpec::Parse(method)});
    for (uint32_t seq : {0u, 1u, 70000u}) {
      const SentProbe p = Build(t, 2, seq);
      const auto req = Classify(RequestPacket(p));
      EXPECT_EQ(req.verdict, PacketVerdict::kRequest);
      EXPECT_EQ(req.target, t);
      EXPECT_EQ(req.flow, 2);
      EXPECT_EQ(req.seq16, static_cast<uint16_t>(seq));
      const auto rep = Classify(ReplyPacket(p));
      EXPECT_EQ(rep.verdict, PacketVerdict::kReply);
      EXPECT_EQ(rep.target, t);
      EXPECT_EQ(rep.flow, 2);
      EXPECT_EQ(rep.seq16, static_cast<uint16_t>(seq));
      EXPECT_EQ(rep.tcp_syn_ack, std::string(method) == "tcp:443");
      EXPECT_EQ(rep.stamp.has_value(), std::string(method) == "stamp");
    }
  }
}

TEST_P(ProbeCodecTest, TamperedRepliesAreForged) {
  const IpAddress target = Ip(GetParam());
  for (const char* method : {"icmp", "tcp:443", "stamp"}) {
    SCOPED_TRACE(method);
    const uint32_t t = *codec_.AddTarget({target, *ProbeMethodSpec::Parse(method)});
    const SentProbe p = Build(t, 1, 5);
    std::vector<uint8_t> reply = ReplyPacket(p);
    const size_t l4 = target.is_v4() ? 20 : 40;
    // Flip one bit where each method carries its MAC.
    const std::string m = method;
    const size_t at = m == "icmp" ? l4 + 8 + 9 : (m == "tcp:443" ? l4 + 10 : l4 + 8 + 35);
    reply[at] ^= 0x10;
    EXPECT_EQ(Classify(reply).verdict, PacketVerdict::kForged);
  }
}

TEST_P(ProbeCodecTest, ADifferentSecretNeverMatches) {
  const IpAddress target = Ip(GetParam());
  ProbeCodec other(ProbeSecret::FromKey(3, 4), 4, 62000, {40000, 40001, 40002, 40003});
  for (const char* method : {"icmp", "tcp:443", "stamp"}) {
    const uint32_t t = *codec_.AddTarget({target, *ProbeMethodSpec::Parse(method)});
    ASSERT_EQ(*other.AddTarget({target, *ProbeMethodSpec::Parse(method)}), t);
    SentProbe p;
    p.destination = target;
    other.BuildProbe(t, 0, 9, target.is_v4() ? Ip("198.18.0.1") : Ip("2001:db8::1"), absl::Now(), 0,
                     &p.packet);
    const auto c = Classify(ReplyPacket(p));
    EXPECT_NE(c.verdict, PacketVerdict::kReply) << method;
  }
}

TEST_P(ProbeCodecTest, IcmpErrorsAreAttributedByKind) {
  const IpAddress target = Ip(GetParam());
  const bool v4 = target.is_v4();
  const IpAddress router = v4 ? Ip("198.18.9.9") : Ip("2001:db8::99");
  for (const char* method : {"icmp", "tcp:443", "stamp"}) {
    SCOPED_TRACE(method);
    const uint32_t t = *codec_.AddTarget({target, *ProbeMethodSpec::Parse(method)});
    const SentProbe p = Build(t, 3, 77);
    auto c = Classify(IcmpErrorPacket(p, router, v4 ? 3 : 1, v4 ? 3 : 4));
    EXPECT_EQ(c.verdict, PacketVerdict::kIcmpError);
    EXPECT_EQ(c.error, IcmpErrorKind::kPortUnreachable);
    EXPECT_EQ(c.target, t);
    EXPECT_EQ(c.flow, 3);
    EXPECT_TRUE(c.seq_known);
    EXPECT_EQ(c.seq16, 77);
    c = Classify(IcmpErrorPacket(p, router, v4 ? 11 : 3, 0));
    EXPECT_EQ(c.error, IcmpErrorKind::kTimeExceeded);
    c = Classify(IcmpErrorPacket(p, router, v4 ? 3 : 1, v4 ? 1 : 3));
    EXPECT_EQ(c.error, IcmpErrorKind::kHostUnreachable);
  }
}

TEST_P(ProbeCodecTest, TcpPoolPortsRoundTrip) {
  const IpAddress target = Ip(GetParam());
  const IpAddress source = target.is_v4() ? Ip("198.18.0.1") : Ip("2001:db8::1");
  const IpAddress router = target.is_v4() ? Ip("198.18.9.9") : Ip("2001:db8::99");
  const uint32_t t = *codec_.AddTarget({target, *ProbeMethodSpec::Parse("tcp:443")});
  std::set<uint16_t> ports;
  for (uint8_t flow = 0; flow < 4; ++flow) {
    for (uint8_t slot = 0; slot < kTcpPortsPerFlow; ++slot) {
      SentProbe p;
      p.destination = target;
      p.flow = flow;
      codec_.BuildProbe(t, flow, 1000u + slot, source, absl::Now(), 0, &p.packet, slot);
      EXPECT_EQ(p.packet.source_port, codec_.SourcePort(t, flow, slot));
      ports.insert(p.packet.source_port);
      for (const auto& bytes : {RequestPacket(p), ReplyPacket(p), ReplyPacket(p, true),
                                IcmpErrorPacket(p, router, target.is_v4() ? 3 : 1, 4)}) {
        const auto c = Classify(bytes);
        EXPECT_NE(c.verdict, PacketVerdict::kUnrelated);
        EXPECT_NE(c.verdict, PacketVerdict::kForged);
        EXPECT_EQ(c.flow, flow);
        EXPECT_EQ(c.port_slot, slot);
        EXPECT_EQ(c.seq16, 1000u + slot);
      }
      // The RST leaves from the same pool port and acks the ISN.
      ProbePacket rst;
      codec_.BuildTcpReset(t, flow, static_cast<uint16_t>(1000u + slot), source, &rst, slot);
      EXPECT_EQ(rst.source_port, p.packet.source_port);
    }
  }
  EXPECT_EQ(ports.size(), 4u * kTcpPortsPerFlow);  // every (flow, slot) its own port
  // A port just past the last flow's pool is not ours.
  SentProbe p;
  p.destination = target;
  codec_.BuildProbe(t, 3, 7, source, absl::Now(), 0, &p.packet, kTcpPortsPerFlow - 1);
  auto reply = ReplyPacket(p);
  const size_t l4 = target.is_v4() ? 20 : 40;
  const uint16_t outside = static_cast<uint16_t>(62000 + 4 * kTcpPortsPerFlow);
  reply[l4 + 2] = static_cast<uint8_t>(outside >> 8);
  reply[l4 + 3] = static_cast<uint8_t>(outside);
  EXPECT_EQ(Classify(reply).verdict, PacketVerdict::kUnrelated);
}

INSTANTIATE_TEST_SUITE_P(Families, ProbeCodecTest, ::testing::Values("198.18.1.2", "2001:db8::2"));

TEST(ProbeCodecPlainTest, IcmpChecksumIsConstantPerFlowAndIdsDifferAcrossFlows) {
  ProbeCodec codec(ProbeSecret::FromKey(11, 12), 4, 62000, {});
  const uint32_t t = *codec.AddTarget({*IpAddress::Parse("198.18.1.2"), {}});
  std::set<uint16_t> ids;
  for (uint8_t flow = 0; flow < 4; ++flow) {
    std::set<uint16_t> checksums;
    for (uint32_t seq = 0; seq < 500; ++seq) {
      ProbePacket p;
      codec.BuildProbe(t, flow, seq, *IpAddress::Parse("198.18.0.1"), absl::Now(), 0, &p);
      checksums.insert(static_cast<uint16_t>(p.bytes[2] << 8 | p.bytes[3]));
      // and it is a valid checksum
      uint32_t sum = 0;
      for (size_t i = 0; i < p.length; i += 2)
        sum += static_cast<uint32_t>(p.bytes[i] << 8 | p.bytes[i + 1]);
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      ASSERT_EQ(sum, 0xffffu);
    }
    EXPECT_EQ(checksums.size(), 1u) << "flow " << int{flow};
    ids.insert(codec.IcmpId(t, flow));
  }
  EXPECT_EQ(ids.size(), 4u);
}

TEST(ProbeCodecPlainTest, OtherPingsAndGarbageAreUnrelated) {
  ProbeCodec codec(ProbeSecret::FromKey(11, 12), 1, 62000, {});
  const IpAddress target = *IpAddress::Parse("198.18.1.2");
  (void)*codec.AddTarget({target, {}});
  // An echo reply from the target with someone else's id.
  std::vector<uint8_t> icmp(8 + 24);
  icmp[4] = static_cast<uint8_t>((codec.IcmpId(0, 0) + 100) >> 8);
  icmp[5] = static_cast<uint8_t>(codec.IcmpId(0, 0) + 100);
  auto bytes = testing::WrapIp(target, *IpAddress::Parse("198.18.0.1"), 1, icmp);
  EXPECT_EQ(codec.Classify(*ParseIpPacket(bytes)).verdict, PacketVerdict::kUnrelated);
  // From an address we do not probe.
  bytes =
      testing::WrapIp(*IpAddress::Parse("198.18.7.7"), *IpAddress::Parse("198.18.0.1"), 1, icmp);
  EXPECT_EQ(codec.Classify(*ParseIpPacket(bytes)).verdict, PacketVerdict::kUnrelated);
  // Truncated L4.
  bytes = testing::WrapIp(target, *IpAddress::Parse("198.18.0.1"), 6,
                          absl::MakeConstSpan(icmp).first(7));
  EXPECT_EQ(codec.Classify(*ParseIpPacket(bytes)).verdict, PacketVerdict::kUnrelated);
}

TEST(ProbeCodecPlainTest, ParsesMethods) {
  EXPECT_EQ(ProbeMethodSpec::Parse("stamp")->port, 862);
  EXPECT_EQ(ProbeMethodSpec::Parse("stamp:4000")->port, 4000);
  EXPECT_EQ(ProbeMethodSpec::Parse("tcp:22")->method, ProbeMethod::kTcpSyn);
  EXPECT_FALSE(ProbeMethodSpec::Parse("tcp").ok());
  EXPECT_FALSE(ProbeMethodSpec::Parse("tcp:0").ok());
  EXPECT_FALSE(ProbeMethodSpec::Parse("tcp:70000").ok());
  EXPECT_FALSE(ProbeMethodSpec::Parse("udp:53").ok());
}

}  // namespace
}  // namespace vantage::probe
