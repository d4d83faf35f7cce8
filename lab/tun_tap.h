// TunTap: a packet socket (AF_PACKET) on one TUN device that receives the
// head of every packet crossing the device in one direction, with the
// kernel's timestamp of that moment (taken where every packet tap, libpcap
// included, sees the packet):
//  - kOutgoing: packets the node's stack transmits onto the device (the
//    emulator reads them from the TUN fd); the stamp is the node's kernel
//    transmit time.
//  - kIncoming: packets the emulator writes into the TUN fd, as the node's
//    stack receives them; the stamp is the node's kernel receive time (taken
//    inside the emulator's write(), where the TUN driver hands the packet to
//    the stack).
// A classic BPF filter keeps only that direction and cuts packets to
// TxTimestampMatcher::kHeadBytes; they land in a memory-mapped TPACKET_V2
// ring of kFrames frames (512 KiB), so reading one costs no system call
// (the emulator reads one entry per packet it forwards on each side). When
// the ring is full the kernel drops new entries (the matcher then finds no
// timestamp for those packets and counts them unmatched).
//
// Thread model: not thread-safe; used on the emulator's loop thread. Open()
// must run while the calling thread is in the device's network namespace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "lab/tx_timestamp_matcher.h"

namespace vantage::lab {

class TunTap {
 public:
  enum class Direction { kOutgoing, kIncoming };

  // Taps the interface `ifindex` of the calling thread's namespace. Needs
  // CAP_NET_RAW.
  static absl::StatusOr<std::unique_ptr<TunTap>> Open(int ifindex, Direction direction);
  ~TunTap();
  TunTap(const TunTap&) = delete;
  TunTap& operator=(const TunTap&) = delete;

  // The next tapped packet (its kernel timestamp converted to the monotonic
  // clock), or nullopt when none is waiting.
  std::optional<TappedPacket> Read();

 private:
  static constexpr size_t kFrameSize = 256;  // header, address, kHeadBytes of packet
  static constexpr size_t kBlockSize = 16384;
  static constexpr size_t kFrames = 2048;
  static constexpr size_t kRingBytes = kFrameSize * kFrames;

  explicit TunTap(int fd) : fd_(fd) {}
  int fd_;
  uint8_t* ring_ = nullptr;
  size_t next_ = 0;  // the next frame to read
};

}  // namespace vantage::lab
