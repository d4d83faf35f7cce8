#include "probe/stamp_packet.h"

#include <gtest/gtest.h>

#include <array>

namespace vantage::probe {
namespace {

TEST(StampPacketTest, NtpRoundTripsToTheNanosecond) {
  const absl::Time t = absl::FromUnixNanos(1'764'000'000'123'456'789);
  const uint64_t ntp = ToNtpTimestamp(t);
  EXPECT_EQ(ntp >> 32, 1'764'000'000u + 2'208'988'800u);
  EXPECT_LE(absl::AbsDuration(FromNtpTimestamp(ntp) - t), absl::Nanoseconds(1));
}

TEST(StampPacketTest, ErrorEstimateEncodesSyncAndMagnitude) {
  const uint16_t e = MakeErrorEstimate(true, absl::Microseconds(100));
  EXPECT_TRUE(ErrorEstimateSynchronized(e));
  const absl::Duration d = ErrorEstimateDuration(e);
  EXPECT_GE(d, absl::Microseconds(100));
  EXPECT_LE(d, absl::Microseconds(101));
  EXPECT_FALSE(ErrorEstimateSynchronized(MakeErrorEstimate(false, absl::Seconds(1))));
  EXPECT_NE(MakeErrorEstimate(false, absl::ZeroDuration()) & 0xff, 0);  // multiplier never 0
}

TEST(StampPacketTest, ReflectorLayoutMatchesRfc8762) {
  StampReflectorPacket r;
  r.sequence = 0x01020304;
  r.timestamp = 0x1112131415161718;
  r.error_estimate = 0x8001;
  r.receive_timestamp = 0x2122232425262728;
  r.sender_sequence = 0x31323334;
  r.sender_timestamp = 0x4142434445464748;
  r.sender_error_estimate = 0x5152;
  r.sender_ttl = 0x61;
  std::array<uint8_t, kStampPacketSize> b{};
  r.Encode(absl::MakeSpan(b));
  EXPECT_EQ(b[0], 0x01);
  EXPECT_EQ(b[4], 0x11);
  EXPECT_EQ(b[12], 0x80);
  EXPECT_EQ(b[16], 0x21);
  EXPECT_EQ(b[24], 0x31);
  EXPECT_EQ(b[28], 0x41);
  EXPECT_EQ(b[36], 0x51);
  EXPECT_EQ(b[40], 0x61);
  auto back = StampReflectorPacket::Decode(b);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->sender_timestamp, r.sender_timestamp);
  EXPECT_EQ(back->sender_ttl, 0x61);
  EXPECT_FALSE(StampReflectorPacket::Decode(absl::MakeConstSpan(b).first(43)).has_value());
}

TEST(StampPacketTest, SenderAcceptsShortTwampLightPackets) {
  std::array<uint8_t, kStampPacketSize> b{};
  StampSenderPacket{7, 0xabcdef, 0x8002}.Encode(absl::MakeSpan(b));
  auto p = StampSenderPacket::Decode(absl::MakeConstSpan(b).first(14));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->sequence, 7u);
  EXPECT_EQ(p->timestamp, 0xabcdefu);
  EXPECT_FALSE(StampSenderPacket::Decode(absl::MakeConstSpan(b).first(13)).has_value());
}

}  // namespace
}  // namespace vantage::probe
