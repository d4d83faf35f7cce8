#include "resolver/dns_probe_scheduler.h"

#include <memory>
#include <utility>

#include "core/status_macros.h"

namespace vantage::resolver {

DnsProbeScheduler::DnsProbeScheduler(EventLoop* loop, DnsProber* prober, const Clock* clock,
                                     DnsProbeConfig config, WindowSink on_window,
                                     ResultSink on_result)
    : loop_(loop),
      prober_(prober),
      clock_(clock),
      config_(std::move(config)),
      on_window_(std::move(on_window)),
      on_result_(std::move(on_result)),
      aggregator_(clock->Now()) {}

DnsProbeScheduler::~DnsProbeScheduler() {
  Stop();
  *alive_ = false;
}

absl::Status DnsProbeScheduler::Start() {
  VANTAGE_RETURN_IF_ERROR(config_.Validate());
  if (running_) return absl::FailedPreconditionError("already started");
  running_ = true;
  aggregator_.CloseWindow(clock_->Now());
  round_timer_ = loop_->AddTimerAfter(absl::ZeroDuration(), [this] { Round(); });
  window_timer_ = loop_->AddTimerAfter(config_.window, [this] { CloseWindow(); });
  return absl::OkStatus();
}

void DnsProbeScheduler::Stop() {
  if (!running_) return;
  running_ = false;
  loop_->CancelTimer(round_timer_);
  loop_->CancelTimer(window_timer_);
}

void DnsProbeScheduler::Send(const Endpoint& server, const DnsQuestion& question) {
  std::weak_ptr<bool> alive = alive_;
  auto sent = prober_->Query(server, question, [this, alive](const DnsQueryResult& r) {
    if (alive.expired()) return;
    aggregator_.Add(r);
    if (on_result_) on_result_(r);
  });
  if (!sent.ok()) ++send_failures_;
}

void DnsProbeScheduler::Round() {
  ++rounds_;
  for (const Endpoint& server : config_.servers) {
    for (const std::string& name : config_.names) {
      for (uint16_t type : config_.types) Send(server, DnsQuestion{name, type, kClassIn});
    }
    if (config_.chaos) Send(server, DnsQuestion{"hostname.bind", kTypeTxt, kClassChaos});
  }
  absl::Duration next = config_.interval;
  if (config_.jitter > absl::ZeroDuration()) {
    next += absl::Nanoseconds(
        absl::Uniform<int64_t>(rng_, 0, absl::ToInt64Nanoseconds(config_.jitter)));
  }
  round_timer_ = loop_->AddTimerAfter(next, [this] { Round(); });
}

void DnsProbeScheduler::CloseWindow() {
  auto window = aggregator_.CloseWindow(clock_->Now());
  if (on_window_) on_window_(std::move(window));
  window_timer_ = loop_->AddTimerAfter(config_.window, [this] { CloseWindow(); });
}

}  // namespace vantage::resolver
