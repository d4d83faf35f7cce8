// LinkDirection: the model of one direction of an emulated link — when a
// packet that enters it now leaves (delay, jitter, FIFO order), whether it is
// lost, and whether the bounded queue has room — with its counters.
//
// It does not hold packets: the Forwarder keeps them and reports departures
// back (Departed), so the queue length here is exact.
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <random>

#include "absl/time/time.h"
#include "lab/loss_model.h"
#include "lab/topology.h"

namespace vantage::lab {

struct LinkCounters {
  uint64_t received = 0;       // packets offered to this direction
  uint64_t delivered = 0;      // packets that left it
  uint64_t lost = 0;           // dropped by the loss model
  uint64_t queue_dropped = 0;  // dropped because the queue was full
  uint64_t queued = 0;         // packets in flight right now
};

class LinkDirection {
 public:
  explicit LinkDirection(const LinkParams& params);

  // A packet enters at `now`. Returns its departure time, or nullopt when it
  // is dropped (queue full or lost; counted either way).
  std::optional<absl::Time> Admit(absl::Time now, std::mt19937_64& rng);
  // The Forwarder delivered one admitted packet.
  void Departed();

  // Applies to packets admitted from now on; packets in flight keep their
  // departure times, and FIFO order still holds across the change.
  void SetParams(const LinkParams& params);

  const LinkParams& params() const { return params_; }
  const LinkCounters& counters() const { return counters_; }

 private:
  LinkParams params_;
  LossModel loss_;
  LinkCounters counters_;
  absl::Time last_departure_ = absl::InfinitePast();
};

}  // namespace vantage::lab
