// TunTxTap: a packet socket (AF_PACKET) on one TUN device that receives the
// head of every packet the node's stack transmits onto the device, with the
// kernel's timestamp of that moment (taken where every packet tap, libpcap
// included, sees the packet leave). A classic BPF filter keeps only outgoing
// packets and cuts them to TxTimestampMatcher::kHeadBytes.
//
// Thread model: not thread-safe; used on the emulator's loop thread. Open()
// must run while the calling thread is in the device's network namespace.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "lab/tx_timestamp_matcher.h"

namespace vantage::lab {

class TunTxTap {
 public:
  // Taps the interface `ifindex` of the calling thread's namespace. Needs
  // CAP_NET_RAW.
  static absl::StatusOr<std::unique_ptr<TunTxTap>> Open(int ifindex);
  ~TunTxTap();
  TunTxTap(const TunTxTap&) = delete;
  TunTxTap& operator=(const TunTxTap&) = delete;

  // The next tapped packet (its transmit time converted to the monotonic
  // clock), or nullopt when none is waiting.
  std::optional<TappedPacket> Read();

 private:
  explicit TunTxTap(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace vantage::lab
