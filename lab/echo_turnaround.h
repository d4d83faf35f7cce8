// EchoTurnaround: how long a node's own kernel takes to answer an ICMP echo
// request (IPv4 or IPv6) that the emulator delivered to it: the node's
// kernel transmit time of the echo reply minus its kernel receive time of
// the request, both from the taps on its TUN device. It is not part of any
// link (a real host takes this time too) but it is inside every RTT a
// prober measures through the node, so the lab shows it beside the link
// residuals: an RTT error the links did not make.
//
// Requests wait for their reply up to kMaxPending entries (then all are
// forgotten and counted as dropped).
//
// Thread model: not thread-safe; used on the emulator's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "lab/residual_histogram.h"

namespace vantage::lab {

class EchoTurnaround {
 public:
  static constexpr size_t kMaxPending = 4096;

  explicit EchoTurnaround(size_t nodes) : per_node_(nodes) {}

  // `packet` was delivered to `node`, whose kernel received it at `received`.
  void Delivered(int node, const uint8_t* packet, size_t size, absl::Time received);
  // `packet` was read from `node`, whose kernel transmitted it at
  // `transmitted`.
  void Transmitted(int node, const uint8_t* packet, size_t size, absl::Time transmitted);

  // Turnaround per node (microseconds, ResidualHistogram's bins).
  const ResidualHistogram& node(int n) const { return per_node_[static_cast<size_t>(n)]; }
  uint64_t dropped() const { return dropped_; }

 private:
  absl::flat_hash_map<std::string, absl::Time> pending_;
  std::vector<ResidualHistogram> per_node_;
  uint64_t dropped_ = 0;
};

}  // namespace vantage::lab
