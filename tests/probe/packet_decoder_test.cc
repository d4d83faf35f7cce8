#include "probe/packet_decoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tests/probe/packet_builder.h"

namespace vantage::probe {
namespace {

using testing::Link;
using testing::PacketBuilder;
using testing::TcpSpec;

IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }

DecodeStatus DecodeBytes(int link_type, const std::vector<uint8_t>& bytes, DecodedPacket* out) {
  return PacketDecoder::Decode(link_type, absl::MakeConstSpan(bytes), out);
}

TcpSpec SynWithOptions() {
  TcpSpec spec;
  spec.src_port = 51000;
  spec.dst_port = 443;
  spec.seq = 0xfffffff0;
  spec.flags = kTcpSyn;
  spec.mss = 1460;
  spec.timestamps = std::make_pair(123456u, 0u);
  return spec;
}

TEST(PacketDecoderTest, EthernetIpv4TcpWithOptions) {
  PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
  auto bytes = b.WithTtl(57).Tcp(SynWithOptions());
  DecodedPacket d;
  ASSERT_EQ(DecodeBytes(b.link_type(), bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.ip_version, 4);
  EXPECT_EQ(d.src, Ip("198.18.0.1"));
  EXPECT_EQ(d.dst, Ip("198.19.0.2"));
  EXPECT_EQ(d.protocol, kIpProtoTcp);
  EXPECT_EQ(d.ttl, 57);
  EXPECT_EQ(d.l3_offset, 14);
  EXPECT_EQ(d.l4_offset, 34);
  EXPECT_EQ(d.src_port, 51000);
  EXPECT_EQ(d.dst_port, 443);
  EXPECT_EQ(d.tcp.seq, 0xfffffff0u);
  EXPECT_EQ(d.tcp.flags, kTcpSyn);
  EXPECT_TRUE(d.tcp.has_mss);
  EXPECT_EQ(d.tcp.mss, 1460);
  EXPECT_TRUE(d.tcp.has_timestamps);
  EXPECT_EQ(d.tcp.tsval, 123456u);
  EXPECT_EQ(d.tcp.tsecr, 0u);
  EXPECT_EQ(d.tcp.header_length, 36);
  EXPECT_EQ(d.payload_offset, 34 + 36);
  EXPECT_EQ(d.payload_length, 0u);
}

TEST(PacketDecoderTest, PayloadIsDescribedNotCopiedAndSnaplenTruncationIsFine) {
  PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
  TcpSpec spec;
  spec.flags = kTcpAck | kTcpPsh;
  spec.timestamps = std::make_pair(1u, 2u);
  spec.payload = std::string(1000, 'x');
  auto bytes = b.Tcp(spec);
  const uint32_t wire = static_cast<uint32_t>(bytes.size());
  bytes.resize(128);  // what a snaplen-128 capture keeps
  DecodedPacket d;
  ASSERT_EQ(PacketDecoder::Decode(1, absl::MakeConstSpan(bytes), &d, wire), DecodeStatus::kOk);
  EXPECT_EQ(d.payload_length, 1000u);
  EXPECT_EQ(d.payload_offset, 14 + 20 + 32);
  // Without the wire length the IP total length can't be satisfied.
  EXPECT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kBadIpTotalLength);
}

TEST(PacketDecoderTest, VlanAndQinQ) {
  PacketBuilder single(Ip("198.18.0.1"), Ip("198.19.0.2"));
  auto bytes = single.WithVlan(100).Tcp(SynWithOptions());
  DecodedPacket d;
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.vlan_count, 1);
  EXPECT_EQ(d.vlan_ids[0], 100);
  EXPECT_EQ(d.l3_offset, 18);

  PacketBuilder double_tagged(Ip("2001:db8::1"), Ip("2001:db8:1::2"));
  bytes = double_tagged.WithVlan(10).WithVlan(20).Tcp(SynWithOptions());
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.vlan_count, 2);
  EXPECT_EQ(d.vlan_ids[0], 10);
  EXPECT_EQ(d.vlan_ids[1], 20);
  EXPECT_EQ(d.l3_offset, 22);
  EXPECT_EQ(d.ip_version, 6);

  PacketBuilder triple(Ip("198.18.0.1"), Ip("198.19.0.2"));
  bytes = triple.WithVlan(1).WithVlan(2).WithVlan(3).Tcp(SynWithOptions());
  EXPECT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kTooManyVlanTags);
}

TEST(PacketDecoderTest, LinuxCookedAndRaw) {
  for (Link link : {Link::kSll, Link::kSll2, Link::kRaw}) {
    PacketBuilder b(Ip("2001:db8::1"), Ip("2001:db8:1::2"));
    b.WithLink(link);
    auto bytes = b.Tcp(SynWithOptions());
    DecodedPacket d;
    ASSERT_EQ(DecodeBytes(b.link_type(), bytes, &d), DecodeStatus::kOk) << b.link_type();
    EXPECT_EQ(d.src, Ip("2001:db8::1"));
    EXPECT_EQ(d.dst_port, 443);
    EXPECT_EQ(d.tcp.tsval, 123456u);
    EXPECT_EQ(d.l3_offset, link == Link::kSll ? 16 : link == Link::kSll2 ? 20 : 0);
  }
  // DLT_IPV4 / DLT_IPV6 insist on their version.
  PacketBuilder v4(Ip("198.18.0.1"), Ip("198.19.0.2"));
  auto bytes = v4.WithLink(Link::kRaw).Tcp(SynWithOptions());
  DecodedPacket d;
  EXPECT_EQ(DecodeBytes(228, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(DecodeBytes(229, bytes, &d), DecodeStatus::kBadIpVersion);
}

TEST(PacketDecoderTest, Ipv6ExtensionHeaderIsSkipped) {
  PacketBuilder b(Ip("2001:db8::1"), Ip("2001:db8:1::2"));
  auto bytes = b.WithIpv6DestOptions().Tcp(SynWithOptions());
  DecodedPacket d;
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.protocol, kIpProtoTcp);
  EXPECT_EQ(d.l4_offset, 14 + 40 + 8);
  EXPECT_EQ(d.tcp.tsval, 123456u);
  // Cut inside the extension header.
  bytes.resize(14 + 40 + 4);
  EXPECT_EQ(PacketDecoder::Decode(1, absl::MakeConstSpan(bytes), &d, 200),
            DecodeStatus::kTruncatedIpv6ExtensionHeader);
}

TEST(PacketDecoderTest, UdpAndIcmp) {
  PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
  auto bytes = b.Udp(5353, 862, "hello");
  DecodedPacket d;
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.protocol, kIpProtoUdp);
  EXPECT_EQ(d.src_port, 5353);
  EXPECT_EQ(d.dst_port, 862);
  EXPECT_EQ(d.udp.length, 13);
  EXPECT_EQ(d.payload_length, 5u);

  bytes = b.Icmp(8, 0, 0x1234, 7);
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.icmp.type, 8);
  EXPECT_TRUE(d.icmp.has_echo_fields);
  EXPECT_EQ(d.icmp.id, 0x1234);
  EXPECT_EQ(d.icmp.sequence, 7);
  EXPECT_FALSE(d.icmp.is_error);

  PacketBuilder v6(Ip("2001:db8::1"), Ip("2001:db8:1::2"));
  bytes = v6.Icmp(129, 0, 9, 10);
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_EQ(d.protocol, kIpProtoIcmpv6);
  EXPECT_EQ(d.icmp.id, 9);
  EXPECT_EQ(d.icmp.sequence, 10);
}

TEST(PacketDecoderTest, IcmpErrorQuotesTheOriginalPacket) {
  // A TCP SYN we sent, quoted (IP header + 8 bytes) in a TTL-exceeded error.
  PacketBuilder original(Ip("198.18.0.1"), Ip("198.19.0.2"));
  auto syn = original.WithLink(Link::kRaw).Tcp(SynWithOptions());
  std::vector<uint8_t> quoted(syn.begin(), syn.begin() + 28);
  PacketBuilder router(Ip("198.18.5.5"), Ip("198.18.0.1"));
  auto bytes = router.Icmp(11, 0, 0, 0, quoted);
  DecodedPacket d;
  ASSERT_EQ(DecodeBytes(1, bytes, &d), DecodeStatus::kOk);
  EXPECT_TRUE(d.icmp.is_error);
  EXPECT_EQ(d.icmp.quoted_offset, 14 + 20 + 8);
  DecodedPacket inner;
  ASSERT_EQ(PacketDecoder::DecodeQuoted(absl::MakeConstSpan(bytes), d.icmp.quoted_offset, &inner),
            DecodeStatus::kOk);
  EXPECT_EQ(inner.src, Ip("198.18.0.1"));
  EXPECT_EQ(inner.dst, Ip("198.19.0.2"));
  EXPECT_EQ(inner.protocol, kIpProtoTcp);
  EXPECT_EQ(inner.src_port, 51000);
  EXPECT_EQ(inner.dst_port, 443);
  EXPECT_EQ(inner.tcp.seq, 0xfffffff0u);
}

TEST(PacketDecoderTest, MalformedInputsAreClassified) {
  PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
  const auto good = b.Tcp(SynWithOptions());
  DecodedPacket d;
  auto with = [&](size_t index, uint8_t value) {
    auto copy = good;
    copy[index] = value;
    return DecodeBytes(1, copy, &d);
  };
  EXPECT_EQ(with(14, 0x55), DecodeStatus::kBadIpVersion);
  EXPECT_EQ(with(14, 0x44), DecodeStatus::kBadIpHeaderLength);
  EXPECT_EQ(with(14, 0x4f), DecodeStatus::kTruncatedIpHeader);
  EXPECT_EQ(with(17, 10), DecodeStatus::kBadIpTotalLength);         // total < header
  EXPECT_EQ(with(16, 0x40), DecodeStatus::kBadIpTotalLength);       // total > frame
  EXPECT_EQ(with(21, 0x10), DecodeStatus::kIpFragment);             // offset != 0
  EXPECT_EQ(with(34 + 12, 0x40), DecodeStatus::kBadTcpDataOffset);  // 16 bytes
  EXPECT_EQ(with(34 + 12, 0xf0), DecodeStatus::kBadTcpDataOffset);  // 60 > segment
  EXPECT_EQ(with(34 + 21, 0), DecodeStatus::kBadTcpOptions);        // MSS length 0
  EXPECT_EQ(with(13, 0x06), DecodeStatus::kNotIp);                  // ARP
  EXPECT_EQ(DecodeBytes(999, good, &d), DecodeStatus::kUnsupportedLinkType);
  // Every prefix of a good packet is either fine or classified, never a crash.
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_NE(
        PacketDecoder::Decode(1, absl::MakeConstSpan(cut), &d, static_cast<uint32_t>(good.size())),
        DecodeStatus::kOk)
        << n;
  }
  DecodeCounters counters;
  counters.Count(DecodeStatus::kOk);
  counters.Count(DecodeStatus::kNotIp);
  counters.Count(DecodeStatus::kNotIp);
  EXPECT_EQ(counters.Get(DecodeStatus::kNotIp), 2u);
  EXPECT_EQ(counters.Failures(), 2u);
  EXPECT_STREQ(DecodeStatusName(DecodeStatus::kBadTcpOptions), "bad_tcp_options");
}

// Decode() takes a one-pass fast path for IPv4 TCP on Ethernet and raw IP
// (DecodeTcpSegment also on Linux SLL/SLL2);
// it must give exactly what the general path gives, errors included (the
// packet_decoder_fuzzer checks the same on arbitrary bytes).
TEST(PacketDecoderTest, FastPathAgreesWithTheGeneralPath) {
  std::vector<std::pair<int, std::vector<uint8_t>>> packets;
  for (Link link : {Link::kEthernet, Link::kRaw, Link::kSll, Link::kSll2}) {
    PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
    b.WithLink(link);
    TcpSpec plain;
    plain.flags = kTcpAck;
    plain.payload = "hello";
    TcpSpec stamped = plain;
    stamped.timestamps = std::make_pair(7u, 9u);
    packets.emplace_back(b.link_type(), b.Tcp(SynWithOptions()));
    packets.emplace_back(b.link_type(), b.Tcp(plain));
    packets.emplace_back(b.link_type(), b.Tcp(stamped));
  }
  // Variants: truncated, bad option length, TSO (total length 0), fragment.
  const std::vector<uint8_t> base = packets[2].second;  // Ethernet, timestamps
  auto variant = [&](auto edit) {
    std::vector<uint8_t> v = base;
    edit(v);
    packets.emplace_back(1, v);
  };
  variant([](std::vector<uint8_t>& v) { v.resize(50); });
  variant([](std::vector<uint8_t>& v) { v[14 + 20 + 20 + 3] = 11; });  // TS option length 11
  variant([](std::vector<uint8_t>& v) { v[14 + 2] = v[14 + 3] = 0; });
  variant([](std::vector<uint8_t>& v) { v[14 + 7] = 8; });           // fragment offset 8
  variant([](std::vector<uint8_t>& v) { v[14 + 20 + 12] = 0xf0; });  // data offset 60
  for (size_t i = 0; i < packets.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& [link, bytes] = packets[i];
    DecodedPacket fast;
    DecodedPacket general;
    const DecodeStatus s = PacketDecoder::Decode(link, absl::MakeConstSpan(bytes), &fast);
    ASSERT_EQ(s, PacketDecoder::DecodeGeneral(link, absl::MakeConstSpan(bytes), &general));
    if (s != DecodeStatus::kOk) continue;
    EXPECT_EQ(fast.src, general.src);
    EXPECT_EQ(fast.dst, general.dst);
    EXPECT_EQ(fast.ttl, general.ttl);
    EXPECT_EQ(fast.l3_offset, general.l3_offset);
    EXPECT_EQ(fast.l4_offset, general.l4_offset);
    EXPECT_EQ(fast.payload_offset, general.payload_offset);
    EXPECT_EQ(fast.payload_length, general.payload_length);
    EXPECT_EQ(fast.ip_length, general.ip_length);
    EXPECT_EQ(fast.src_port, general.src_port);
    EXPECT_EQ(fast.dst_port, general.dst_port);
    EXPECT_EQ(fast.tcp.seq, general.tcp.seq);
    EXPECT_EQ(fast.tcp.ack, general.tcp.ack);
    EXPECT_EQ(fast.tcp.flags, general.tcp.flags);
    EXPECT_EQ(fast.tcp.header_length, general.tcp.header_length);
    EXPECT_EQ(fast.tcp.has_mss, general.tcp.has_mss);
    EXPECT_EQ(fast.tcp.mss, general.tcp.mss);
    EXPECT_EQ(fast.tcp.has_timestamps, general.tcp.has_timestamps);
    EXPECT_EQ(fast.tcp.tsval, general.tcp.tsval);
    EXPECT_EQ(fast.tcp.tsecr, general.tcp.tsecr);
  }
  // PassiveRtt's segment fast path: whenever it takes a packet, it gives
  // exactly the fields of the general decode; and it takes the common ones.
  size_t taken = 0;
  for (size_t i = 0; i < packets.size(); ++i) {
    SCOPED_TRACE(i);
    const auto& [link, bytes] = packets[i];
    DecodedPacket general;
    const DecodeStatus s = PacketDecoder::DecodeGeneral(link, absl::MakeConstSpan(bytes), &general);
    TcpSegmentFields segment;
    if (!PacketDecoder::DecodeTcpSegment(link, absl::MakeConstSpan(bytes), 0, &segment)) continue;
    ++taken;
    ASSERT_EQ(s, DecodeStatus::kOk);
    ASSERT_EQ(general.protocol, kIpProtoTcp);
    EXPECT_TRUE(segment == TcpSegmentFields::From(general));
  }
  EXPECT_EQ(taken, 12u);  // 3 segments x 4 link types; no variant
}

// DecodeEthernetTimestampedTcp: one combined check for nearly every packet
// of a timestamped flow on Ethernet. It takes exactly the packets of its
// layout that DecodeTcpSegment takes, with the same fields, at the edges of
// every length it checks, and leaves everything else to DecodeTcpSegment.
TEST(PacketDecoderTest, EthernetTimestampedTcpTakesExactlyItsLayout) {
  PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
  TcpSpec spec;
  spec.src_port = 51000;
  spec.dst_port = 443;
  spec.seq = 0xfffffff0;
  spec.ack = 0x01020304;
  spec.flags = kTcpAck | kTcpPsh;
  spec.timestamps = std::make_pair(0x89abcdefu, 0x12345678u);
  spec.payload = "0123456789";
  const std::vector<uint8_t> base = b.Tcp(spec);
  ASSERT_EQ(base.size(), 14u + 20 + 32 + 10);
  // Whether it takes `bytes` (wire length `wire`, 0: as captured); when it
  // does, its fields must be DecodeTcpSegment's.
  auto takes = [](const std::vector<uint8_t>& bytes, uint32_t wire) {
    TimestampedTcpSegment t;
    if (!PacketDecoder::DecodeEthernetTimestampedTcp(bytes.data(), bytes.size(), wire, &t)) {
      return false;
    }
    TcpSegmentFields f;
    EXPECT_TRUE(PacketDecoder::DecodeTcpSegment(kDltEn10mb, absl::MakeConstSpan(bytes), wire, &f));
    TcpSegmentFields expected = f;
    expected.src[0] = t.src();
    expected.dst[0] = t.dst();
    expected.src_port = t.src_port();
    expected.dst_port = t.dst_port();
    expected.seq = t.seq();
    expected.ack = t.ack();
    expected.flags = t.flags;
    expected.tsval = t.tsval();
    expected.tsecr = t.tsecr();
    expected.ip_length = t.ip_length;
    expected.payload_length = t.payload_length();
    EXPECT_TRUE(f.has_timestamps && f.family == 4 && f.src[1] == 0 && f.dst[1] == 0);
    EXPECT_TRUE(f == expected);
    return true;
  };
  auto edited = [&base](auto edit) {
    std::vector<uint8_t> v = base;
    edit(v);
    return v;
  };
  ASSERT_TRUE(takes(base, 0));
  TimestampedTcpSegment t;
  ASSERT_TRUE(PacketDecoder::DecodeEthernetTimestampedTcp(base.data(), base.size(), 0, &t));
  EXPECT_EQ(t.src_port(), 51000);
  EXPECT_EQ(t.dst_port(), 443);
  EXPECT_EQ(t.seq(), 0xfffffff0u);
  EXPECT_EQ(t.ack(), 0x01020304u);
  EXPECT_EQ(t.flags, kTcpAck | kTcpPsh);
  EXPECT_EQ(t.tsval(), 0x89abcdefu);
  EXPECT_EQ(t.tsecr(), 0x12345678u);
  EXPECT_EQ(t.ip_length, 62u);
  EXPECT_EQ(t.payload_length(), 10u);
  const uint32_t src = t.src();
  const uint32_t dst = t.dst();
  EXPECT_EQ(IpAddress::V4Bytes(reinterpret_cast<const uint8_t*>(&src)), Ip("198.18.0.1"));
  EXPECT_EQ(IpAddress::V4Bytes(reinterpret_cast<const uint8_t*>(&dst)), Ip("198.19.0.2"));

  // Captured up to the end of the TCP header (66 bytes) but longer on the
  // wire (snaplen): taken when the wire length covers the IP length.
  const std::vector<uint8_t> headers(base.begin(), base.begin() + 66);
  EXPECT_FALSE(takes(headers, 0));
  EXPECT_FALSE(takes(headers, 14 + 62 - 1));
  EXPECT_TRUE(takes(headers, 14 + 62));
  EXPECT_FALSE(takes(std::vector<uint8_t>(base.begin(), base.begin() + 65), 1500));
  // A wire length below what was captured counts as what was captured.
  EXPECT_TRUE(takes(base, 10));
  // The IP length: both headers at least (52), at most the wire's.
  auto total = [&edited](uint16_t length) {
    return edited([length](std::vector<uint8_t>& v) {
      v[16] = static_cast<uint8_t>(length >> 8);
      v[17] = static_cast<uint8_t>(length);
    });
  };
  EXPECT_TRUE(takes(total(52), 0));
  EXPECT_FALSE(takes(total(51), 0));
  EXPECT_FALSE(takes(total(0), 0));  // segmentation offload
  EXPECT_TRUE(takes(total(62), 0));
  EXPECT_FALSE(takes(total(63), 0));
  EXPECT_TRUE(takes(total(63), 14 + 63));
  // Fragments: a first fragment (more fragments, offset 0) is taken.
  EXPECT_TRUE(takes(edited([](std::vector<uint8_t>& v) { v[20] = 0x20; }), 0));
  EXPECT_FALSE(takes(edited([](std::vector<uint8_t>& v) { v[20] = 0x01; }), 0));
  EXPECT_FALSE(takes(edited([](std::vector<uint8_t>& v) { v[21] = 0x01; }), 0));
  // The bits beside TCP's data offset are not part of it.
  EXPECT_TRUE(takes(edited([](std::vector<uint8_t>& v) { v[46] = 0x8f; }), 0));
  // Everything else goes to DecodeTcpSegment (which takes some of it).
  const std::vector<std::vector<uint8_t>> others = {
      edited([](std::vector<uint8_t>& v) { v[12] = 0x86; }),                    // not IPv4
      edited([](std::vector<uint8_t>& v) { v[14] = 0x46; }),                    // IP options
      edited([](std::vector<uint8_t>& v) { v[14] = 0x65; }),                    // version 6
      edited([](std::vector<uint8_t>& v) { v[23] = kIpProtoUdp; }),             // not TCP
      edited([](std::vector<uint8_t>& v) { v[46] = 0x70; }),                    // 28-byte header
      edited([](std::vector<uint8_t>& v) { v[55] = 0x00; }),                    // not NOP, NOP
      edited([](std::vector<uint8_t>& v) { v[57] = 11; }),                      // bad option length
      PacketBuilder(Ip("198.18.0.1"), Ip("198.19.0.2")).WithVlan(7).Tcp(spec),  // VLAN tag
      b.Tcp(SynWithOptions()),                                                  // MSS too
      b.Tcp(TcpSpec{}),                                                         // no options
  };
  for (size_t i = 0; i < others.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_FALSE(takes(others[i], 0));
  }
  // Every single-bit change of the headers (each byte the combined check
  // masks, and every other): taken exactly when DecodeTcpSegment takes the
  // packet and it still has the layout (EtherType IPv4, version 4 without
  // options, a 32-byte TCP header starting NOP, NOP, timestamps).
  int flips_taken = 0;
  for (size_t byte = 0; byte < 66; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      SCOPED_TRACE(::testing::Message() << "byte " << byte << " bit " << bit);
      std::vector<uint8_t> v = base;
      v[byte] ^= static_cast<uint8_t>(1 << bit);
      TcpSegmentFields f;
      const bool layout = v[12] == 0x08 && v[13] == 0x00 && v[14] == 0x45 &&
                          (v[46] & 0xf0) == 0x80 && v[54] == 1 && v[55] == 1 && v[56] == 8 &&
                          v[57] == 10;
      const bool expected =
          layout && PacketDecoder::DecodeTcpSegment(kDltEn10mb, absl::MakeConstSpan(v), 0, &f);
      EXPECT_EQ(takes(v, 0), expected);
      flips_taken += expected ? 1 : 0;
    }
  }
  // Most changes (addresses, ports, numbers, checksums) keep the layout.
  EXPECT_GT(flips_taken, 350);
  EXPECT_LT(flips_taken, 66 * 8 - 40);
  // Nor does it take a packet longer than the decoder parses.
  std::vector<uint8_t> huge = base;
  huge.resize(kMaxDecodedBytes + 1);
  EXPECT_FALSE(takes(huge, 0));
  huge.resize(kMaxDecodedBytes);
  EXPECT_TRUE(takes(huge, 0));
}

}  // namespace
}  // namespace vantage::probe
