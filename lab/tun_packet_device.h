// TunPacketDevice: a TUN device's descriptor (FdPacketDevice) together with
// two TunTaps on the same device, so that every packet read from it can be
// given the kernel's transmit timestamp (TransmittedAt) and every packet
// written into it the kernel's receive timestamp (ReceivedAt), each through
// a TxTimestampMatcher.
//
// Thread model: used on the emulator's loop thread only.
#pragma once

#include <memory>

#include "lab/packet_device.h"
#include "lab/tun_tap.h"
#include "lab/tx_timestamp_matcher.h"

namespace vantage::lab {

class TunPacketDevice : public FdPacketDevice {
 public:
  // Takes ownership of the TUN descriptor `fd` and of the taps.
  TunPacketDevice(int fd, std::unique_ptr<TunTap> tx_tap, std::unique_ptr<TunTap> rx_tap)
      : FdPacketDevice(fd), tx_tap_(std::move(tx_tap)), rx_tap_(std::move(rx_tap)) {}

  std::optional<absl::Time> TransmittedAt(const uint8_t* packet, size_t size,
                                          absl::Time now) override {
    return tx_matcher_.Match(packet, size, now, [this] { return tx_tap_->Read(); });
  }
  std::optional<absl::Time> ReceivedAt(const uint8_t* packet, size_t size,
                                       absl::Time now) override {
    return rx_matcher_.Match(packet, size, now, [this] { return rx_tap_->Read(); });
  }
  TxMatchCounters tx_counters() const override { return tx_matcher_.counters(); }
  TxMatchCounters rx_counters() const override { return rx_matcher_.counters(); }

 private:
  std::unique_ptr<TunTap> tx_tap_;
  std::unique_ptr<TunTap> rx_tap_;
  TxTimestampMatcher tx_matcher_;
  TxTimestampMatcher rx_matcher_;
};

}  // namespace vantage::lab
