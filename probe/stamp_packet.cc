#include "probe/stamp_packet.h"

#include <cmath>
#include <cstring>

#include "probe/internal/big_endian.h"

namespace vantage::probe {
namespace {

// Seconds from 1900-01-01 to 1970-01-01.
constexpr int64_t kNtpUnixOffset = 2'208'988'800;

}  // namespace

uint64_t ToNtpTimestamp(absl::Time t) {
  const int64_t ns = absl::ToUnixNanos(t);
  const int64_t secs = ns / 1'000'000'000 + kNtpUnixOffset;
  const uint64_t frac_ns = static_cast<uint64_t>(ns % 1'000'000'000);
  const uint64_t frac = (frac_ns << 32) / 1'000'000'000;
  return static_cast<uint64_t>(secs) << 32 | frac;
}

absl::Time FromNtpTimestamp(uint64_t ntp) {
  const int64_t secs = static_cast<int64_t>(ntp >> 32) - kNtpUnixOffset;
  const uint64_t frac = ntp & 0xffffffffULL;
  const int64_t ns = static_cast<int64_t>((frac * 1'000'000'000ULL + (1ULL << 31)) >> 32);
  return absl::FromUnixSeconds(secs) + absl::Nanoseconds(ns);
}

uint16_t MakeErrorEstimate(bool synchronized, absl::Duration error) {
  // Smallest scale whose 8-bit multiplier covers the error (rounded up).
  const double units = absl::ToDoubleSeconds(error) * 4294967296.0;
  int scale = 0;
  double multiplier = std::ceil(units);
  while (multiplier > 255 && scale < 63) {
    ++scale;
    multiplier = std::ceil(units / std::ldexp(1.0, scale));
  }
  if (multiplier < 1) multiplier = 1;  // RFC 4656: the multiplier must not be 0
  if (multiplier > 255) multiplier = 255;
  return static_cast<uint16_t>((synchronized ? 0x8000 : 0) | (scale << 8) |
                               static_cast<int>(multiplier));
}

absl::Duration ErrorEstimateDuration(uint16_t e) {
  const int scale = (e >> 8) & 0x3f;
  const int multiplier = e & 0xff;
  return absl::Seconds(std::ldexp(static_cast<double>(multiplier), scale - 32));
}

void StampSenderPacket::Encode(absl::Span<uint8_t> out) const {
  std::memset(out.data(), 0, kStampPacketSize);
  Put32(&out[0], sequence);
  Put64(&out[4], timestamp);
  Put16(&out[12], error_estimate);
}

std::optional<StampSenderPacket> StampSenderPacket::Decode(absl::Span<const uint8_t> in) {
  if (in.size() < kStampMinSenderPacketSize) return std::nullopt;
  StampSenderPacket p;
  p.sequence = Get32(&in[0]);
  p.timestamp = Get64(&in[4]);
  p.error_estimate = Get16(&in[12]);
  return p;
}

void StampReflectorPacket::Encode(absl::Span<uint8_t> out) const {
  std::memset(out.data(), 0, kStampPacketSize);
  Put32(&out[0], sequence);
  Put64(&out[4], timestamp);
  Put16(&out[12], error_estimate);
  Put64(&out[16], receive_timestamp);
  Put32(&out[24], sender_sequence);
  Put64(&out[28], sender_timestamp);
  Put16(&out[36], sender_error_estimate);
  out[40] = sender_ttl;
}

std::optional<StampReflectorPacket> StampReflectorPacket::Decode(absl::Span<const uint8_t> in) {
  if (in.size() < kStampPacketSize) return std::nullopt;
  StampReflectorPacket p;
  p.sequence = Get32(&in[0]);
  p.timestamp = Get64(&in[4]);
  p.error_estimate = Get16(&in[12]);
  p.receive_timestamp = Get64(&in[16]);
  p.sender_sequence = Get32(&in[24]);
  p.sender_timestamp = Get64(&in[28]);
  p.sender_error_estimate = Get16(&in[36]);
  p.sender_ttl = in[40];
  return p;
}

}  // namespace vantage::probe
