// DnsProbeScheduler: runs a DnsProbeConfig on the loop — every round (the
// interval plus jitter) one query per (server, name, type), and a CHAOS
// hostname.bind query per server when asked — feeds the results into a
// DnsAggregator and hands each closed window to a sink.
//
// Ownership: the loop, the prober and the clock must outlive the scheduler.
//
// Thread model: loop thread only; the sinks run there.
#pragma once

#include <functional>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "resolver/dns_aggregator.h"
#include "resolver/dns_probe_config.h"
#include "resolver/dns_prober.h"

namespace vantage::resolver {

class DnsProbeScheduler {
 public:
  using WindowSink = std::function<void(std::vector<DnsWindowStats> window)>;
  using ResultSink = std::function<void(const DnsQueryResult& result)>;

  // `config` must validate.
  DnsProbeScheduler(EventLoop* loop, DnsProber* prober, const Clock* clock, DnsProbeConfig config,
                    WindowSink on_window, ResultSink on_result = nullptr);
  ~DnsProbeScheduler();
  DnsProbeScheduler(const DnsProbeScheduler&) = delete;
  DnsProbeScheduler& operator=(const DnsProbeScheduler&) = delete;

  [[nodiscard]] absl::Status Start();
  // Cancels the timers; queries in flight still complete into the aggregator.
  void Stop();
  uint64_t rounds() const { return rounds_; }
  uint64_t send_failures() const { return send_failures_; }

 private:
  void Round();
  void CloseWindow();
  void Send(const Endpoint& server, const DnsQuestion& question);

  EventLoop* loop_;
  DnsProber* prober_;
  const Clock* clock_;
  DnsProbeConfig config_;
  WindowSink on_window_;
  ResultSink on_result_;
  DnsAggregator aggregator_;
  absl::BitGen rng_;
  EventLoop::TimerId round_timer_ = 0;
  EventLoop::TimerId window_timer_ = 0;
  bool running_ = false;
  uint64_t rounds_ = 0;
  uint64_t send_failures_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vantage::resolver
