// TxTimestampMatcher: pairs the packets the emulator reads from a node's TUN
// device with the kernel's transmit timestamps of the same packets, as a
// packet tap on that device (TunTap, outgoing) saw them leave the node's
// stack. The emulator starts a packet's link delay at that timestamp, so the
// time the emulator takes to wake up and read the packet is inside the
// configured delay instead of added to it (and a capture on the node's
// interface, which stamps the packet at the same point, sees exactly the
// configured delay). The same matching pairs the packets the emulator
// writes into a TUN device with the receiving kernel's timestamps (TunTap,
// incoming), which is how the emulator measures where a link really ends.
//
// Matching: the tap and the device see the same packets in nearly the same
// order (packets from different CPUs may interleave differently). A packet
// matches the oldest tapped entry whose captured head (up to kHeadBytes)
// equals the packet's head; entries passed over stay for later packets until
// they are older than `max_age` (the device dropped them, or they never came).
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "absl/time/time.h"

namespace vantage::lab {

struct TappedPacket {
  absl::Time stamped;         // the kernel's timestamp, on the monotonic clock
  std::vector<uint8_t> head;  // the first bytes of the packet (at most kHeadBytes)
};

struct TxMatchCounters {
  uint64_t matched = 0;    // packets given their kernel timestamp
  uint64_t unmatched = 0;  // packets without one
  uint64_t expired = 0;    // tapped entries no packet claimed in time
  uint64_t overflow = 0;   // tapped entries dropped because too many were waiting
};

class TxTimestampMatcher {
 public:
  static constexpr size_t kHeadBytes = 128;
  // Reads the next tapped packet, or nullopt when none is waiting.
  using TapReader = std::function<std::optional<TappedPacket>()>;

  explicit TxTimestampMatcher(absl::Duration max_age = absl::Milliseconds(200),
                              size_t max_pending = 4096)
      : max_age_(max_age), max_pending_(max_pending) {}

  // The kernel's timestamp of `packet`, read (or written) at `now`
  // (monotonic), pulling from `read_tap` as needed; nullopt when no tapped
  // entry matches.
  std::optional<absl::Time> Match(const uint8_t* packet, size_t size, absl::Time now,
                                  const TapReader& read_tap);

  const TxMatchCounters& counters() const { return counters_; }
  size_t pending() const { return pending_.size(); }

 private:
  static bool SameHead(const TappedPacket& tapped, const uint8_t* packet, size_t size);
  void Expire(absl::Time now);

  absl::Duration max_age_;
  size_t max_pending_;
  std::deque<TappedPacket> pending_;
  TxMatchCounters counters_;
};

}  // namespace vantage::lab
