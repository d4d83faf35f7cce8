#include "lab/emulator.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/clock.h"

namespace vantage::lab {
namespace {

// Reading more than this many packets from one device before looking at the
// timer again would let one busy node delay everyone's departures.
constexpr int kReadBatch = 64;
constexpr size_t kMaxPacket = 65536;
// Bounds on the early arming and on the spin after an early wake-up. The
// timer is armed early by the wake-up lateness seen so far plus four times
// its mean deviation (at least kMinTimerAdvance), so that nearly every
// wake-up comes before the departure and the rest is spun: a departure that
// waits for a late wake-up is late by all of it, while an early one costs
// only CPU.
constexpr absl::Duration kMinTimerAdvance = absl::Microseconds(20);
constexpr absl::Duration kMaxTimerAdvance = absl::Microseconds(200);
constexpr absl::Duration kMaxSpin = absl::Microseconds(300);
// Upper bounds (us) of the departure lateness histogram; the last is open.
constexpr int64_t kLateBoundsUs[kDepartureLatenessBuckets - 1] = {2, 5, 10, 20, 50};

nlohmann::json ParamsJson(const LinkParams& p) {
  nlohmann::json j = {{"delay_ms", absl::ToDoubleMilliseconds(p.delay)},
                      {"jitter_ms", absl::ToDoubleMilliseconds(p.jitter)},
                      {"loss", p.loss},
                      {"queue_limit", p.queue_limit},
                      {"allow_reorder", p.allow_reorder}};
  if (p.gilbert_elliott) {
    j["gilbert_elliott"] = {{"p_good_to_bad", p.gilbert_elliott->p_good_to_bad},
                            {"p_bad_to_good", p.gilbert_elliott->p_bad_to_good},
                            {"loss_good", p.gilbert_elliott->loss_good},
                            {"loss_bad", p.gilbert_elliott->loss_bad}};
  }
  return j;
}

std::string Error(absl::string_view message) {
  return nlohmann::json{{"ok", false}, {"error", std::string(message)}}.dump();
}

}  // namespace

Emulator::Emulator(EventLoop* loop, const Topology& topology,
                   std::vector<std::unique_ptr<PacketDevice>> devices, uint64_t seed)
    : loop_(loop),
      forwarder_(topology, seed),
      devices_(std::move(devices)),
      buffer_(kMaxPacket),
      leads_(devices_.size()),
      turnaround_(devices_.size()) {}

Emulator::~Emulator() {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  for (const auto& d : devices_) {
    if (d) loop_->UnwatchFd(d->fd());
  }
}

absl::Status Emulator::Start() {
  if (devices_.size() != forwarder_.routing().nodes().size()) {
    return absl::InvalidArgumentError(absl::StrCat("need one device per node: ", devices_.size(),
                                                   " for ", forwarder_.routing().nodes().size()));
  }
  for (NodeId n = 0; n < static_cast<NodeId>(devices_.size()); ++n) {
    absl::Status st = loop_->WatchFd(devices_[static_cast<size_t>(n)]->fd(), EPOLLIN,
                                     [this, n](uint32_t) { OnReadable(n); });
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

void Emulator::OnReadable(NodeId node) {
  PacketDevice& device = *devices_[static_cast<size_t>(node)];
  for (int i = 0; i < kReadBatch; ++i) {
    absl::StatusOr<std::optional<size_t>> n = device.Read(buffer_.data(), buffer_.size());
    if (!n.ok()) {
      ++counters_.read_errors;
      break;
    }
    if (!n->has_value()) break;
    ++counters_.packets_read;
    const absl::Time now = RealClock::Get().MonotonicNow();
    // The link takes the packet when the node's kernel transmitted it, not
    // when this loop got round to reading it.
    const std::optional<absl::Time> transmitted = device.TransmittedAt(buffer_.data(), **n, now);
    const absl::Time entered = transmitted && *transmitted <= now ? *transmitted : now;
    if (transmitted) turnaround_.Transmitted(node, buffer_.data(), **n, *transmitted);
    forwarder_.Ingress(
        node,
        std::vector<uint8_t>(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(**n)),
        entered, now);
  }
  DeliverAndRearm();
}

void Emulator::DeliverAndRearm() {
  const absl::Time now = RealClock::Get().MonotonicNow();
  const absl::Time due = forwarder_.NextWrite();
  if (due <= now) {
    const int64_t late_us = absl::ToInt64Microseconds(now - due);
    size_t bucket = 0;
    while (bucket < kDepartureLatenessBuckets - 1 && late_us >= kLateBoundsUs[bucket]) ++bucket;
    ++counters_.departure_lateness[bucket];
  }
  forwarder_.DeliverDue(
      now, [this](NodeId to, const std::vector<uint8_t>& packet, const DepartureTimes& times) {
        if (devices_[static_cast<size_t>(to)]->Write(packet.data(), packet.size()).ok()) {
          ++counters_.packets_written;
          Written(to, packet, times);
        } else {
          ++counters_.write_errors;
        }
      });
  const absl::Time next = forwarder_.NextWrite();
  if (next == timer_at_) return;
  if (timer_ != 0) loop_->CancelTimer(timer_);
  timer_ = 0;
  timer_at_ = next;
  if (next == absl::InfiniteFuture()) return;
  const absl::Time fire_at = next - timer_advance_;
  timer_ = loop_->AddTimerAt(fire_at, [this, fire_at] { OnTimer(fire_at); });
}

void Emulator::OnTimer(absl::Time fired_for) {
  timer_ = 0;
  timer_at_ = absl::InfiniteFuture();
  ++counters_.timer_wakeups;
  absl::Time now = RealClock::Get().MonotonicNow();
  // Moving average and mean deviation of the wake-up lateness, 1/8 weight
  // to the newest.
  const absl::Duration late = std::clamp(now - fired_for, absl::ZeroDuration(), kMaxTimerAdvance);
  late_mean_ += (late - late_mean_) / 8;
  late_deviation_ += (absl::AbsDuration(late - late_mean_) - late_deviation_) / 8;
  timer_advance_ = std::clamp(late_mean_ + 4 * late_deviation_, kMinTimerAdvance, kMaxTimerAdvance);
  counters_.timer_advance_ns = absl::ToInt64Nanoseconds(timer_advance_);
  const absl::Time next = forwarder_.NextWrite();
  if (next > now && next - now <= kMaxSpin) {
    while (now < next) now = RealClock::Get().MonotonicNow();
  }
  DeliverAndRearm();
}

void Emulator::Written(NodeId to, const std::vector<uint8_t>& packet, const DepartureTimes& times) {
  PacketDevice& device = *devices_[static_cast<size_t>(to)];
  // The receiving kernel stamps the packet inside write(): its tap entry is
  // there by now.
  const std::optional<absl::Time> received =
      device.ReceivedAt(packet.data(), packet.size(), RealClock::Get().MonotonicNow());
  if (!received) return;
  turnaround_.Delivered(to, packet.data(), packet.size(), *received);
  const absl::Duration residual = *received - times.departure;
  forwarder_.RecordResidual(times.direction, residual);
  if (times.write_at < times.read_at) {
    ++counters_.unscheduled;
    return;
  }
  residual_.Add(residual);
  WriteLeadEstimator& lead = leads_[static_cast<size_t>(to)];
  lead.Add(*received - times.write_at);
  forwarder_.SetWriteLead(to, lead.lead());
}

nlohmann::json Emulator::TxTimestampsJson(bool receive) const {
  TxMatchCounters total;
  for (const auto& d : devices_) {
    const TxMatchCounters c = receive ? d->rx_counters() : d->tx_counters();
    total.matched += c.matched;
    total.unmatched += c.unmatched;
    total.expired += c.expired;
    total.overflow += c.overflow;
  }
  return {{"matched", total.matched},
          {"unmatched", total.unmatched},
          {"expired", total.expired},
          {"overflow", total.overflow}};
}

nlohmann::json Emulator::ResidualJson() const {
  nlohmann::json j = residual_.ToJson(true);
  j["unscheduled"] = counters_.unscheduled;
  return j;
}

nlohmann::json Emulator::DepartureLatenessJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (size_t b = 0; b < kDepartureLatenessBuckets; ++b) {
    const std::string label = b + 1 < kDepartureLatenessBuckets
                                  ? absl::StrCat("<", kLateBoundsUs[b])
                                  : absl::StrCat(">=", kLateBoundsUs[b - 1]);
    j[label] = counters_.departure_lateness[b];
  }
  return j;
}

std::string Emulator::HandleControl(const std::string& request) {
  nlohmann::json req;
  try {
    req = nlohmann::json::parse(request);
  } catch (const nlohmann::json::exception& e) {
    return Error(absl::StrCat("bad request: ", e.what()));
  }
  if (!req.is_object() || !req.contains("command") || !req["command"].is_string()) {
    return Error("a request needs a \"command\"");
  }
  const std::string command = req["command"];
  auto text = [&](const char* key) -> std::string {
    return req.contains(key) && req[key].is_string() ? req[key].get<std::string>() : "";
  };
  auto number = [&](const char* key) -> std::optional<double> {
    if (req.contains(key) && req[key].is_number()) return req[key].get<double>();
    return std::nullopt;
  };
  if (command == "status") {
    nlohmann::json links = nlohmann::json::array();
    for (const LinkStatus& l : forwarder_.Links()) {
      links.push_back({{"from", l.from},
                       {"to", l.to},
                       {"params", ParamsJson(l.params)},
                       {"received", l.counters.received},
                       {"delivered", l.counters.delivered},
                       {"lost", l.counters.lost},
                       {"queue_dropped", l.counters.queue_dropped},
                       {"queued", l.counters.queued},
                       {"residual_us", l.residual.ToJson(false)}});
    }
    nlohmann::json catchments = nlohmann::json::object();
    nlohmann::json leads = nlohmann::json::object();
    const RoutingTable& routing = forwarder_.routing();
    nlohmann::json turnarounds = nlohmann::json::object();
    for (NodeId n = 0; n < static_cast<NodeId>(routing.nodes().size()); ++n) {
      const std::string& name = routing.nodes()[static_cast<size_t>(n)].name;
      leads[name] = absl::ToDoubleMicroseconds(forwarder_.write_lead(n));
      if (turnaround_.node(n).count() > 0) turnarounds[name] = turnaround_.node(n).ToJson(false);
    }
    for (NodeId n = 0; n < static_cast<NodeId>(routing.nodes().size()); ++n) {
      if (routing.nodes()[static_cast<size_t>(n)].kind == NodeKind::kRegion) {
        catchments[routing.nodes()[static_cast<size_t>(n)].name] =
            routing.nodes()[static_cast<size_t>(routing.CatchmentOf(n))].name;
      }
    }
    return nlohmann::json{
        {"ok", true},
        {"links", links},
        {"catchments", catchments},
        {"packets_read", counters_.packets_read},
        {"packets_written", counters_.packets_written},
        {"read_errors", counters_.read_errors},
        {"write_errors", counters_.write_errors},
        {"timer_wakeups", counters_.timer_wakeups},
        {"timer_advance_us", static_cast<double>(counters_.timer_advance_ns) / 1000.0},
        {"tx_timestamps", TxTimestampsJson(false)},
        {"rx_timestamps", TxTimestampsJson(true)},
        {"departure_lateness_us", DepartureLatenessJson()},
        {"residual_us", ResidualJson()},
        {"write_lead_us", leads},
        {"echo_turnaround_us", turnarounds},
        {"no_route", forwarder_.no_route()},
        {"malformed", forwarder_.malformed()},
        {"held", forwarder_.held()}}
        .dump();
  }
  if (command == "set-link") {
    LinkPatch patch;
    if (auto v = number("delay_ms")) patch.delay = absl::Microseconds(std::llround(*v * 1000));
    if (auto v = number("jitter_ms")) patch.jitter = absl::Microseconds(std::llround(*v * 1000));
    if (auto v = number("loss")) patch.loss = *v;
    if (auto v = number("queue_limit")) {
      if (*v < 1) return Error("queue_limit must be at least 1");
      patch.queue_limit = static_cast<size_t>(*v);
    }
    std::string direction = text("direction");
    if (direction.empty()) direction = "both";
    absl::Status st = forwarder_.SetLink(text("pop"), text("region"), direction, patch);
    if (!st.ok()) return Error(st.message());
    return nlohmann::json{{"ok", true}}.dump();
  }
  if (command == "set-catchment") {
    absl::Status st = forwarder_.SetCatchment(text("region"), text("pop"));
    if (!st.ok()) return Error(st.message());
    return nlohmann::json{{"ok", true}}.dump();
  }
  return Error(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace vantage::lab
