// STAMP (RFC 8762) unauthenticated test packets: the session-sender packet
// and the session-reflector packet, and the NTP timestamp / error-estimate
// encodings they carry. The layout is the same as TWAMP-Light's
// (RFC 5357 section 4.2.1), so either kind of reflector answers us.
//
// Sender packet (44 bytes): seq(4) timestamp(8) error-estimate(2) MBZ(30).
// Reflector packet (44 bytes): seq(4) timestamp(8) error-estimate(2) MBZ(2)
//   receive-timestamp(8) sender-seq(4) sender-timestamp(8)
//   sender-error-estimate(2) MBZ(2) sender-TTL(1) MBZ(3).
//
// Thread model: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "absl/types/span.h"

namespace vantage::probe {

inline constexpr uint16_t kStampDefaultPort = 862;
inline constexpr size_t kStampPacketSize = 44;
// TWAMP-Light senders may send as little as seq + timestamp + error estimate.
inline constexpr size_t kStampMinSenderPacketSize = 14;

// 64-bit NTP timestamps (seconds since 1900 in the high 32 bits).
uint64_t ToNtpTimestamp(absl::Time t);
absl::Time FromNtpTimestamp(uint64_t ntp);

// RFC 4656 section 4.1.2 error estimate: S (synchronised), Z (0: NTP
// format), Scale (6 bits), Multiplier (8 bits); error = Multiplier * 2^Scale
// * 2^-32 s.
uint16_t MakeErrorEstimate(bool synchronized, absl::Duration error);
inline bool ErrorEstimateSynchronized(uint16_t e) { return (e & 0x8000) != 0; }
absl::Duration ErrorEstimateDuration(uint16_t e);

struct StampSenderPacket {
  uint32_t sequence = 0;
  uint64_t timestamp = 0;  // NTP
  uint16_t error_estimate = 0;

  // Writes kStampPacketSize bytes (MBZ zeroed).
  void Encode(absl::Span<uint8_t> out) const;
  static std::optional<StampSenderPacket> Decode(absl::Span<const uint8_t> in);
};

struct StampReflectorPacket {
  uint32_t sequence = 0;
  uint64_t timestamp = 0;  // NTP, when the reflector sent this
  uint16_t error_estimate = 0;
  uint64_t receive_timestamp = 0;  // NTP, when the reflector received the test packet
  uint32_t sender_sequence = 0;
  uint64_t sender_timestamp = 0;
  uint16_t sender_error_estimate = 0;
  uint8_t sender_ttl = 0;

  void Encode(absl::Span<uint8_t> out) const;
  static std::optional<StampReflectorPacket> Decode(absl::Span<const uint8_t> in);
};

}  // namespace vantage::probe
