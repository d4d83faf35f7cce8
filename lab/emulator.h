// Emulator: the running data path. It reads packets from every node's
// PacketDevice as they arrive, hands them to the Forwarder with the time the
// node's kernel transmitted them (PacketDevice::TransmittedAt, the instant a
// capture on the node's interface stamps them; the time they were read when
// the device can't tell), and writes each one to its destination node's
// device when its write time comes, using a single timer on the EventLoop
// (timerfd). The timer is armed early by the wake-up lateness it has
// observed (its moving average plus four mean deviations, within
// [kMinTimerAdvance, kMaxTimerAdvance]) and the last microseconds are spun,
// so writes are precise to a few microseconds rather than the tens a virtual
// machine's timer interrupt adds; a histogram of how late writes were is
// kept (departure_lateness).
//
// Where a link ends: after each write the Emulator asks the device when the
// receiving node's kernel received the packet (PacketDevice::ReceivedAt, the
// instant a capture on that node's interface stamps it). The residual,
// kernel receive time minus the departure the link model gave the packet, is
// what the nodes see beyond the configured delay; it is recorded per link
// direction and, for the packets the emulator held until a planned write
// time (not those already due when read, e.g. on 0 ms links), overall. The
// same measurement, receive time minus planned write time, feeds one
// WriteLeadEstimator per receiving node, and the Forwarder writes packets
// that lead before their departure, so the median residual is zero: a link
// of delay D is D from kernel transmit to kernel receive, as a real one is.
// The same stamps give each node's own ICMP echo turnaround (EchoTurnaround),
// which is in every RTT measured through the node but in no link.
// It also answers control requests (status, set-link, set-catchment) as JSON.
//
// Thread model: everything runs on the EventLoop's thread; the Emulator must
// outlive the loop's last iteration.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/event_loop.h"
#include "lab/echo_turnaround.h"
#include "lab/forwarder.h"
#include "lab/packet_device.h"
#include "lab/residual_histogram.h"
#include "lab/topology.h"
#include "lab/write_lead_estimator.h"

namespace vantage::lab {

// Departure lateness histogram buckets (see Emulator.cc for the bounds).
constexpr size_t kDepartureLatenessBuckets = 6;

struct EmulatorCounters {
  uint64_t packets_read = 0;
  uint64_t packets_written = 0;
  uint64_t read_errors = 0;
  uint64_t write_errors = 0;
  uint64_t timer_wakeups = 0;
  // Packets whose kernel receive time is known but that were already due
  // when read (kept out of the overall residual and the write leads).
  uint64_t unscheduled = 0;
  int64_t timer_advance_ns = 0;  // how early the timer is armed now
  // How late the earliest due packet was (after its write time) when the
  // loop came to write it:
  // < 2, 5, 10, 20, 50 us and beyond.
  std::array<uint64_t, kDepartureLatenessBuckets> departure_lateness{};
};

class Emulator {
 public:
  // `devices[i]` belongs to node i of RoutingTable's numbering.
  Emulator(EventLoop* loop, const Topology& topology,
           std::vector<std::unique_ptr<PacketDevice>> devices, uint64_t seed);
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // Watches every device. Call once.
  [[nodiscard]] absl::Status Start();

  // One JSON request ({"command": "status" | "set-link" | "set-catchment",
  // ...}) in, one JSON response ({"ok": true, ...} or {"ok": false,
  // "error": ...}) out.
  std::string HandleControl(const std::string& request);

  const Forwarder& forwarder() const { return forwarder_; }
  const EmulatorCounters& counters() const { return counters_; }

 private:
  void OnReadable(NodeId node);
  void OnTimer(absl::Time fired_for);
  void DeliverAndRearm();
  // The transmit (or, with `receive`, receive) timestamp match counters.
  nlohmann::json TxTimestampsJson(bool receive) const;
  nlohmann::json DepartureLatenessJson() const;
  nlohmann::json ResidualJson() const;
  void Written(NodeId to, const std::vector<uint8_t>& packet, const DepartureTimes& times);

  EventLoop* loop_;
  Forwarder forwarder_;
  std::vector<std::unique_ptr<PacketDevice>> devices_;
  EmulatorCounters counters_;
  EventLoop::TimerId timer_ = 0;
  absl::Time timer_at_ = absl::InfiniteFuture();  // the departure it is for
  absl::Duration timer_advance_ = absl::ZeroDuration();
  absl::Duration late_mean_ = absl::ZeroDuration();
  absl::Duration late_deviation_ = absl::ZeroDuration();
  std::vector<uint8_t> buffer_;
  std::vector<WriteLeadEstimator> leads_;  // per receiving node
  ResidualHistogram residual_;             // scheduled packets, every link
  EchoTurnaround turnaround_;
};

}  // namespace vantage::lab
