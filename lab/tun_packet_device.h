// TunPacketDevice: a TUN device's descriptor (FdPacketDevice) together with
// a TunTxTap on the same device, so that every packet read from it can be
// given the kernel's transmit timestamp (TransmittedAt) through a
// TxTimestampMatcher.
//
// Thread model: used on the emulator's loop thread only.
#pragma once

#include <memory>

#include "lab/packet_device.h"
#include "lab/tun_tx_tap.h"
#include "lab/tx_timestamp_matcher.h"

namespace vantage::lab {

class TunPacketDevice : public FdPacketDevice {
 public:
  // Takes ownership of the TUN descriptor `fd` and of `tap`.
  TunPacketDevice(int fd, std::unique_ptr<TunTxTap> tap)
      : FdPacketDevice(fd), tap_(std::move(tap)) {}

  std::optional<absl::Time> TransmittedAt(const uint8_t* packet, size_t size,
                                          absl::Time now) override {
    return matcher_.Match(packet, size, now, [this] { return tap_->Read(); });
  }
  TxMatchCounters tx_counters() const override { return matcher_.counters(); }

 private:
  std::unique_ptr<TunTxTap> tap_;
  TxTimestampMatcher matcher_;
};

}  // namespace vantage::lab
