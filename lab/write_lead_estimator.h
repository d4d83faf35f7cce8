// WriteLeadEstimator: how long before a packet's departure the emulator must
// start writing it into a receiving node's TUN device so that the node's
// kernel receives it at the departure time. Each sample is one scheduled
// packet's kernel receive time minus the time the emulator planned to write
// it: the loop's own lateness (timer, spin, packets written before it) plus
// the write() -> kernel-receive latency of that device. The lead is the
// median of the last kWindow samples (so the median residual of the link
// ends at zero, whatever the tail does), within [0, kMaxLead]; it stays zero
// until kMinSamples have come (the median of one or two samples is whatever
// the first, possibly late, writes were).
//
// Only packets the emulator held until a planned write time should be
// sampled: one that was already due when it was read (a 0 ms link) is late
// by the read latency, which no lead can take back.
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <array>
#include <cstddef>

#include "absl/time/time.h"

namespace vantage::lab {

class WriteLeadEstimator {
 public:
  static constexpr size_t kWindow = 63;
  static constexpr size_t kMinSamples = 16;
  static constexpr absl::Duration kMaxLead = absl::Microseconds(100);

  void Add(absl::Duration sample);
  absl::Duration lead() const { return lead_; }
  size_t samples() const { return samples_; }

 private:
  std::array<absl::Duration, kWindow> window_{};
  size_t next_ = 0;
  size_t samples_ = 0;
  absl::Duration lead_ = absl::ZeroDuration();
};

}  // namespace vantage::lab
