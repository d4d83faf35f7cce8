// PacketDevice: where the emulator reads and writes one node's raw IP
// packets. The real one is a TUN device inside the node's namespace
// (TunPacketDevice, from OpenTunInNamespace), which also tells when the
// node's kernel transmitted each packet it reads and when it received each
// packet the emulator wrote; tests use a datagram socketpair, which keeps
// packet boundaries the same way.
//
// Thread model: used on the emulator's loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "lab/tx_timestamp_matcher.h"

namespace vantage::lab {

class PacketDevice {
 public:
  virtual ~PacketDevice() = default;
  // A non-blocking descriptor that is readable when a packet is waiting.
  virtual int fd() const = 0;
  // One packet into `buffer`; nullopt when none is waiting.
  virtual absl::StatusOr<std::optional<size_t>> Read(uint8_t* buffer, size_t capacity) = 0;
  [[nodiscard]] virtual absl::Status Write(const uint8_t* data, size_t size) = 0;
  // When the node's kernel transmitted `packet` (just read, at `now`) onto
  // the device, on the monotonic clock; nullopt when the device can't tell.
  virtual std::optional<absl::Time> TransmittedAt(const uint8_t* /*packet*/, size_t /*size*/,
                                                  absl::Time /*now*/) {
    return std::nullopt;
  }
  // When the node's kernel received `packet`, which was just written (the
  // write returned at `now`), on the monotonic clock; nullopt when the
  // device can't tell.
  virtual std::optional<absl::Time> ReceivedAt(const uint8_t* /*packet*/, size_t /*size*/,
                                               absl::Time /*now*/) {
    return std::nullopt;
  }
  virtual TxMatchCounters tx_counters() const { return {}; }
  virtual TxMatchCounters rx_counters() const { return {}; }
};

// A PacketDevice over any datagram descriptor it owns (a TUN fd, or one end
// of a SOCK_DGRAM/SOCK_SEQPACKET socketpair in tests).
class FdPacketDevice : public PacketDevice {
 public:
  // Takes ownership of `fd` and makes it non-blocking.
  explicit FdPacketDevice(int fd);
  ~FdPacketDevice() override;
  FdPacketDevice(const FdPacketDevice&) = delete;
  FdPacketDevice& operator=(const FdPacketDevice&) = delete;

  int fd() const override { return fd_; }
  absl::StatusOr<std::optional<size_t>> Read(uint8_t* buffer, size_t capacity) override;
  absl::Status Write(const uint8_t* data, size_t size) override;

 private:
  int fd_;
};

}  // namespace vantage::lab
