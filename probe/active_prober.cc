#include "probe/active_prober.h"

#include <sys/epoll.h>
#include <sys/timex.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace vantage::probe {
namespace {

constexpr int kDispatchBatch = 4096;
constexpr double kMaxSlotsPerFlow = 4096;

struct LocalClockState {
  bool synchronized = false;
  absl::Duration error = absl::Milliseconds(1);
};

LocalClockState QueryLocalClock() {
  timex tx{};
  LocalClockState state;
  const int rc = adjtimex(&tx);
  state.synchronized = rc >= 0 && rc != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  if (state.synchronized && tx.esterror > 0) state.error = absl::Microseconds(tx.esterror);
  return state;
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ActiveProber>> ActiveProber::Create(Options options, EventLoop* loop,
                                                                   const Clock* clock,
                                                                   ProbeSender* sender,
                                                                   ProbeSecret secret) {
  if (options.flows < 1 || options.flows > kMaxFlowsPerTarget) {
    return absl::InvalidArgumentError(
        absl::StrCat("flows must be in 1..", kMaxFlowsPerTarget, ", got ", options.flows));
  }
  if (options.burst < 1) return absl::InvalidArgumentError("burst must be >= 1");
  if (options.interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("interval must be positive");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  if (!(options.max_pps > 0)) return absl::InvalidArgumentError("max_pps must be positive");
  if (options.timer_coalescing < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timer_coalescing must not be negative");
  }
  if (!(options.sketch_alpha > 0 && options.sketch_alpha < 1) || options.sketch_max_bins < 1) {
    return absl::InvalidArgumentError("sketch_alpha must be in (0, 1) and sketch_max_bins >= 1");
  }
  if (options.memory < options.timeout + options.capture_grace) {
    options.memory = options.timeout + options.capture_grace;
  }
  if (options.memory > absl::Minutes(5)) {
    return absl::InvalidArgumentError("memory (and timeout) must be at most 5 min");
  }
  if (options.seed == 0) options.seed = RandomSeed();
  std::mt19937_64 rng(options.seed);
  // TCP source ports above Linux's default ephemeral range (32768-60999), so
  // the kernel's own connections don't collide with our flows.
  const auto tcp_base = static_cast<uint16_t>(std::uniform_int_distribution<int>(
      61000, 65536 - kMaxFlowsPerTarget * kTcpPortsPerFlow)(rng));
  auto codec =
      std::make_unique<ProbeCodec>(secret, options.flows, tcp_base, std::vector<uint16_t>{});
  return std::unique_ptr<ActiveProber>(
      new ActiveProber(options, loop, clock, sender, std::move(codec), {}));
}

ActiveProber::ActiveProber(Options options, EventLoop* loop, const Clock* clock,
                           ProbeSender* sender, std::unique_ptr<ProbeCodec> codec,
                           std::vector<uint16_t> stamp_ports)
    : options_(options),
      loop_(loop),
      clock_(clock),
      sender_(sender),
      codec_(std::move(codec)),
      stamp_ports_(std::move(stamp_ports)),
      sketch_params_(options.sketch_alpha, options.sketch_max_bins),
      scheduler_(ProbeScheduler::Options{options.jitter, options.random_phase, options.rounds,
                                         options.seed ^ 0x9e3779b97f4a7c15ULL}),
      bucket_(options.max_pps, options.bucket_burst, clock->MonotonicNow()) {
  const LocalClockState local = QueryLocalClock();
  local_synchronized_ = options.local_clock_synchronized.value_or(local.synchronized);
  error_estimate_ = MakeErrorEstimate(local_synchronized_, local.error);
}

ActiveProber::~ActiveProber() { Stop(); }

absl::StatusOr<uint32_t> ActiveProber::AddTarget(const ProbeTarget& target,
                                                 std::optional<absl::Duration> interval) {
  if (target.spec.method == ProbeMethod::kStamp && !codec_->has_stamp_ports()) {
    VANTAGE_ASSIGN_OR_RETURN(auto ports, sender_->OpenStampSockets(options_.flows));
    codec_->SetStampPorts(std::move(ports));
  }
  VANTAGE_ASSIGN_OR_RETURN(const IpAddress source, sender_->SourceAddressFor(target.address));
  size_t source_index = 0;
  while (source_index < source_addresses_.size() && source_addresses_[source_index] != source) {
    ++source_index;
  }
  if (source_index == source_addresses_.size()) {
    if (source_addresses_.size() >= 255) {
      return absl::ResourceExhaustedError("more than 255 distinct local source addresses");
    }
    source_addresses_.push_back(source);
  }
  const absl::Duration every = interval.value_or(options_.interval);
  if (every <= absl::ZeroDuration()) return absl::InvalidArgumentError("interval must be positive");
  VANTAGE_ASSIGN_OR_RETURN(const uint32_t index, codec_->AddTarget(target));
  TargetState ts;
  ts.ring_offset = static_cast<uint32_t>(slots_.size());
  ts.ring_bits = RingBits(every);
  ts.source_index = static_cast<uint8_t>(source_index);
  ts.tcp = target.spec.method == ProbeMethod::kTcpSyn;
  targets_.push_back(ts);
  slots_.resize(slots_.size() + (static_cast<size_t>(options_.flows) << ts.ring_bits));
  flows_.resize(flows_.size() + static_cast<size_t>(options_.flows));
  scheduler_.AddTarget(index, every, clock_->MonotonicNow());
  scheduled_rate_ += options_.burst / absl::ToDoubleSeconds(every);
  shortest_interval_ = std::min(shortest_interval_, every);
  UpdateCoalescing();
  if (started_) ArmTimer();
  return index;
}

void ActiveProber::ReserveTargets(size_t count) {
  codec_->ReserveTargets(count);
  scheduler_.Reserve(count);
  targets_.reserve(targets_.size() + count);
  flows_.reserve(flows_.size() + count * static_cast<size_t>(options_.flows));
  slots_.reserve(slots_.size() +
                 (count * static_cast<size_t>(options_.flows) << RingBits(options_.interval)));
}

uint8_t ActiveProber::RingBits(absl::Duration interval) const {
  // Every probe a flow sends while its predecessors are pending or
  // remembered, with two rounds to spare.
  const double shortest = absl::ToDoubleSeconds(interval) * (1 - options_.jitter);
  const double window =
      absl::ToDoubleSeconds(std::max(options_.memory, options_.timeout + options_.capture_grace));
  const double rounds = std::ceil(window / shortest) + 2;
  const double per_round = std::ceil(static_cast<double>(options_.burst) / options_.flows);
  const double need = std::min(rounds * per_round, kMaxSlotsPerFlow);
  uint8_t bits = 1;
  while ((1u << bits) < need) ++bits;
  return bits;
}

absl::Status ActiveProber::AddSource(PacketSource* source, Decoder decode) {
  sources_.push_back(SourceEntry{source, std::move(decode)});
  const size_t index = sources_.size() - 1;
  const int fd = source->selectable_fd();
  if (fd < 0) return absl::OkStatus();
  return loop_->WatchFd(fd, EPOLLIN, [this, index](uint32_t) {
    SourceEntry& entry = sources_[index];
    auto n = entry.source->Dispatch(kDispatchBatch, [this, &entry](const CapturedPacket& packet) {
      auto view = entry.decode(packet);
      if (!view) {
        ++counters_.captured;
        ++counters_.undecodable;
        return;
      }
      OnIpPacket(packet.timestamp(), *view);
    });
    (void)n;  // a capture error shows up in the counters as missing replies
  });
}

void ActiveProber::UpdateCoalescing() {
  coalescing_ = options_.timer_coalescing;
  if (options_.coalesce_probes == 0 || scheduled_rate_ <= 0) return;
  const absl::Duration wanted = absl::Seconds(options_.coalesce_probes / scheduled_rate_);
  const absl::Duration cap = std::min(kMaxCoalescing, shortest_interval_ / 4);
  coalescing_ = std::max(coalescing_, std::min(wanted, cap));
}

absl::Status ActiveProber::Start() {
  if (started_) return absl::OkStatus();
  started_ = true;
  UpdateCoalescing();
  RunDue();
  return absl::OkStatus();
}

void ActiveProber::Stop() {
  if (timer_) loop_->CancelTimer(*timer_);
  timer_.reset();
  timer_at_ = absl::InfiniteFuture();
  for (const SourceEntry& entry : sources_) {
    if (entry.source->selectable_fd() >= 0) loop_->UnwatchFd(entry.source->selectable_fd());
  }
  sources_.clear();
  started_ = false;
}

void ActiveProber::DrainCaptures() {
  for (SourceEntry& entry : sources_) {
    for (int i = 0; i < 64; ++i) {
      auto n = entry.source->Dispatch(kDispatchBatch, [this, &entry](const CapturedPacket& packet) {
        auto view = entry.decode(packet);
        if (!view) {
          ++counters_.captured;
          ++counters_.undecodable;
          return;
        }
        OnIpPacket(packet.timestamp(), *view);
      });
      if (!n.ok() || *n <= 0) break;
    }
  }
}

void ActiveProber::RunDue() {
  // Replies already captured must be counted before anything is declared lost.
  DrainCaptures();
  const absl::Time now = clock_->MonotonicNow();
  last_run_ = now;
  ExpireUntil(absl::ToUnixNanos(now));
  uint32_t target = 0;
  while (scheduler_.PopDue(now, &target)) {
    queue_.push_back(QueuedRound{target, static_cast<uint32_t>(options_.burst), false});
  }
  int64_t tokens = queue_.empty() ? 0 : bucket_.Available(now);
  // One wall-clock reading per batch (STAMP's sender timestamp; RTTs come
  // from capture timestamps).
  const absl::Time wall = queue_.empty() ? absl::InfinitePast() : clock_->Now();
  while (!queue_.empty() && tokens > 0) {
    QueuedRound& round = queue_.front();
    const auto n = static_cast<uint32_t>(std::min<int64_t>(tokens, round.remaining));
    for (uint32_t i = 0; i < n; ++i) {
      if (!Prepare(round.target, wall)) continue;
      if (batch_size_ == kSendBatch) FlushBatch(now);
    }
    (void)bucket_.TryTake(now, n);
    tokens -= n;
    round.remaining -= n;
    if (round.remaining == 0) queue_.pop_front();
  }
  FlushBatch(now);
  for (size_t i = queue_.size(); i > 0 && !queue_[i - 1].waited; --i) {
    queue_[i - 1].waited = true;
    ++counters_.rate_limited;
  }
  if (started_) ArmTimer();
}

void ActiveProber::ArmTimer() {
  const absl::Time now = clock_->MonotonicNow();
  absl::Time next = absl::InfiniteFuture();
  if (auto due = scheduler_.NextDue()) next = std::min(next, *due);
  if (!queue_.empty()) next = std::min(next, bucket_.WhenAvailable(now));
  // The send log's next timeout and next forgetting (ExpireUntil stops on markers).
  if (expire_next_ < sent_log_.size()) {
    const uint64_t e = sent_log_[expire_next_];
    const int64_t sent_ns = (e & kMarker) != 0 ? MarkerTime(e) : expire_time_ns_;
    next = std::min(next, absl::FromUnixNanos(sent_ns + ExpireAfterNs()));
  }
  if (expire_next_ > 0) {
    const uint64_t e = sent_log_.front();
    const int64_t sent_ns = (e & kMarker) != 0 ? MarkerTime(e) : forget_time_ns_;
    next = std::min(next, absl::FromUnixNanos(sent_ns + MemoryNs()));
  }
  if (next != absl::InfiniteFuture()) next = std::max(next, last_run_ + coalescing_);
  if (timer_ && next == timer_at_) return;
  if (timer_) loop_->CancelTimer(*timer_);
  timer_.reset();
  timer_at_ = next;
  if (next == absl::InfiniteFuture()) return;
  timer_ = loop_->AddTimerAt(next, [this] {
    timer_.reset();
    timer_at_ = absl::InfiniteFuture();
    RunDue();
  });
}

bool ActiveProber::Prepare(uint32_t target, absl::Time now_wall) {
  TargetState& ts = targets_[target];
  const uint8_t flow = ts.next_flow;
  ts.next_flow = static_cast<uint8_t>((flow + 1) % options_.flows);
  FlowStats& fs = Flow(target, flow);
  uint8_t port_slot = 0;
  if (ts.tcp) {
    // Never a 5-tuple that still has a SYN in flight.
    const int free_port = std::countr_one(fs.busy_ports);
    if (free_port >= kTcpPortsPerFlow) {
      ++counters_.tcp_ports_exhausted;
      return false;
    }
    port_slot = static_cast<uint8_t>(free_port);
  }
  const uint32_t seq = fs.next_seq++;
  const auto seq16 = static_cast<uint16_t>(seq);
  Slot& slot = SlotFor(target, flow, seq);
  if (slot.state() == ProbeState::kPending) {
    // The ring came round to a probe still waiting: it is given up.
    ++counters_.evicted;
    Resolve(target, flow, slot, ProbeState::kLost);
  }
  if (slot.state() == ProbeState::kEmpty) ++occupied_;
  slot = Slot(seq16, ProbeState::kPending, port_slot);
  if (ts.tcp) fs.busy_ports |= 1u << port_slot;
  ++pending_;

  OutgoingProbe& out = batch_[batch_size_];
  out.destination = &codec_->target(target).address;
  out.flow = flow;
  codec_->BuildProbe(target, flow, seq, source_addresses_[ts.source_index], now_wall,
                     error_estimate_, &out.packet, port_slot);
  prepared_[batch_size_] = Prepared{target, seq16, flow};
  ++batch_size_;
  return true;
}

void ActiveProber::FlushBatch(absl::Time now_mono) {
  if (batch_size_ == 0) return;
  const size_t n = batch_size_;
  batch_size_ = 0;
  const size_t sent = sender_->SendBatch(absl::MakeConstSpan(batch_.data(), n),
                                         absl::MakeSpan(batch_ok_.data(), n));
  if (sent > 0) sent_log_.push_back(kMarker | static_cast<uint64_t>(absl::ToUnixNanos(now_mono)));
  for (size_t i = 0; i < n; ++i) {
    const Prepared& p = prepared_[i];
    Slot& slot = SlotFor(p.target, p.flow, p.seq16);
    if (!batch_ok_[i]) {
      // Not sent: not counted as sent, and its slot and port are free again.
      ++counters_.send_errors;
      if (slot.state() == ProbeState::kPending && slot.seq16() == p.seq16) {
        Resolve(p.target, p.flow, slot, ProbeState::kEmpty);
        --occupied_;
      }
      continue;
    }
    ++Flow(p.target, p.flow).sent;
    sent_log_.push_back(uint64_t{p.target} << 20 | uint64_t{p.flow} << 16 | p.seq16);
  }
  if (sent > 0) {
    if (first_send_ == absl::InfiniteFuture()) first_send_ = now_mono;
    last_send_ = now_mono;
  }
}

void ActiveProber::Resolve(uint32_t target, uint8_t flow, Slot& probe, ProbeState state) {
  FlowStats& fs = Flow(target, flow);
  if (probe.state() == ProbeState::kPending) {
    --pending_;
    if (targets_[target].tcp) fs.busy_ports &= ~(1u << probe.port());
  }
  probe.set_state(state);
  if (state == ProbeState::kLost || state == ProbeState::kLateReceived) ++fs.lost;
  if (state == ProbeState::kReceived) ++fs.received;
}

void ActiveProber::ExpireUntil(int64_t now_ns) {
  // Timeouts: probes sent at or before now − (timeout + grace), still pending, are lost.
  const int64_t expire_after = ExpireAfterNs();
  while (expire_next_ < sent_log_.size()) {
    const uint64_t e = sent_log_[expire_next_];
    if ((e & kMarker) != 0) {
      if (MarkerTime(e) + expire_after > now_ns) break;
      expire_time_ns_ = MarkerTime(e);
    } else {
      const auto target = static_cast<uint32_t>(e >> 20);
      const auto flow = static_cast<uint8_t>(e >> 16 & 0xf);
      const auto seq16 = static_cast<uint16_t>(e);
      Slot& slot = SlotFor(target, flow, seq16);
      if (slot.state() == ProbeState::kPending && slot.seq16() == seq16) {
        Resolve(target, flow, slot, ProbeState::kLost);
      }
    }
    ++expire_next_;
  }
  // Forgetting: resolved probes sent at or before now − memory.
  const int64_t memory = MemoryNs();
  while (expire_next_ > 0) {
    const uint64_t e = sent_log_.front();
    if ((e & kMarker) != 0) {
      if (MarkerTime(e) + memory > now_ns) break;
      forget_time_ns_ = MarkerTime(e);
    } else {
      const auto target = static_cast<uint32_t>(e >> 20);
      const auto flow = static_cast<uint8_t>(e >> 16 & 0xf);
      const auto seq16 = static_cast<uint16_t>(e);
      Slot& slot = SlotFor(target, flow, seq16);
      if (slot.state() != ProbeState::kEmpty && slot.state() != ProbeState::kPending &&
          slot.seq16() == seq16) {
        slot = Slot();
        --occupied_;
      }
    }
    sent_log_.pop_front();
    --expire_next_;
  }
}

void ActiveProber::OnIpPacket(absl::Time timestamp, const IpPacketView& packet) {
  ++counters_.captured;
  const PacketClassification c = codec_->Classify(packet);
  switch (c.verdict) {
    case PacketVerdict::kUnrelated:
      ++counters_.unrelated;
      return;
    case PacketVerdict::kForged:
      ++counters_.forged;
      return;
    case PacketVerdict::kRequest: {
      Slot* slot = FindSlot(c.target, c.flow, c.seq16);
      if (slot == nullptr) {
        ++counters_.stale;
      } else if (slot->wire() == 0) {
        slot->set_wire(absl::ToUnixNanos(timestamp));
      }
      return;
    }
    case PacketVerdict::kReply:
      OnReply(timestamp, c);
      return;
    case PacketVerdict::kIcmpError:
      OnIcmpError(c);
      return;
  }
}

void ActiveProber::OnReply(absl::Time timestamp, const PacketClassification& c) {
  if (c.tcp_syn_ack) {
    // Close the half-open connection (the kernel, having no socket on our
    // port, resets it too; ours makes that independent of local firewalls).
    ProbePacket rst;
    codec_->BuildTcpReset(c.target, c.flow, c.seq16,
                          source_addresses_[targets_[c.target].source_index], &rst, c.port_slot);
    if (!sender_->Send(codec_->target(c.target).address, rst, c.flow).ok()) {
      ++counters_.send_errors;
    }
  }
  Slot* found = FindSlot(c.target, c.flow, c.seq16);
  if (found == nullptr) {
    ++counters_.stale;
    return;
  }
  Slot& probe = *found;
  FlowStats& fs = Flow(c.target, c.flow);
  switch (probe.state()) {
    case ProbeState::kReceived:
    case ProbeState::kLateReceived:
      ++fs.duplicates;
      return;
    case ProbeState::kLost:
      ++fs.late;
      probe.set_state(ProbeState::kLateReceived);  // lost already counted
      return;
    case ProbeState::kPending:
    case ProbeState::kEmpty:
      break;
  }
  const int64_t reply_ns = absl::ToUnixNanos(timestamp);
  const bool request_seen = probe.wire() != 0;
  int64_t rtt_ns = request_seen ? probe.Since(reply_ns) : 0;
  const int64_t request_ns = reply_ns - rtt_ns;
  // STAMP: the round trip of the network excludes the reflector's own time
  // between its receive and send timestamps, (T4 - T1) - (T3 - T2) as in
  // TWAMP (RFC 5357); both are read on the reflector's clock, so no clock
  // synchronisation is needed. A residence outside [0, RTT] (a clock step
  // at the reflector) is not subtracted.
  int64_t residence_ns = 0;
  if (c.stamp) {
    residence_ns = absl::ToInt64Nanoseconds(FromNtpTimestamp(c.stamp->timestamp) -
                                            FromNtpTimestamp(c.stamp->receive_timestamp));
    if (residence_ns < 0 || residence_ns > rtt_ns) residence_ns = 0;
    rtt_ns -= residence_ns;
  }
  if (!request_seen || rtt_ns < 0) {
    ++fs.no_request_timestamp;
    Resolve(c.target, c.flow, probe, ProbeState::kReceived);
    return;
  }
  if (rtt_ns > absl::ToInt64Nanoseconds(options_.timeout)) {
    ++fs.late;
    Resolve(c.target, c.flow, probe, ProbeState::kLateReceived);
    return;
  }
  Resolve(c.target, c.flow, probe, ProbeState::kReceived);
  AddRtt(fs, rtt_ns);
  if (c.stamp) {
    if (!fs.stamp) {
      fs.stamp = std::make_unique<StampStats>(StampStats{NewSketch(), NewSketch(), NewSketch()});
    }
    const absl::Time t2 = FromNtpTimestamp(c.stamp->receive_timestamp);
    const absl::Time t3 = FromNtpTimestamp(c.stamp->timestamp);
    fs.stamp->reflector_us.Add(absl::ToDoubleMicroseconds(t3 - t2));
    if (local_synchronized_ && ErrorEstimateSynchronized(c.stamp->error_estimate)) {
      fs.stamp->forward_us.Add(absl::ToDoubleMicroseconds(t2 - absl::FromUnixNanos(request_ns)));
      fs.stamp->backward_us.Add(absl::ToDoubleMicroseconds(timestamp - t3));
    }
  }
}

void ActiveProber::AddRtt(FlowStats& fs, int64_t rtt_ns) {
  const double us = static_cast<double>(rtt_ns) / 1e3;
  if (fs.min_rtt_ns < 0 || rtt_ns < fs.min_rtt_ns) fs.min_rtt_ns = rtt_ns;
  if (rtt_ns > fs.max_rtt_ns) fs.max_rtt_ns = rtt_ns;
  if (!fs.rtt_us) {
    if (us >= QuantileSketch::kMinIndexable &&
        fs.rtt.Add(sketch_params_.Index(us), sketch_params_.max_bins())) {
      return;
    }
    // Refused: everything so far (this sample's min/max included, though
    // not its count) moves into a full sketch.
    fs.rtt_us = std::make_unique<QuantileSketch>(NewSketch());
    fs.rtt.MoveTo(fs.rtt_us.get(), static_cast<double>(fs.min_rtt_ns) / 1e3,
                  static_cast<double>(fs.max_rtt_ns) / 1e3);
  }
  fs.rtt_us->Add(us);
}

void ActiveProber::OnIcmpError(const PacketClassification& c) {
  FlowStats& fs = Flow(c.target, c.flow);
  if (!fs.errors) fs.errors = std::make_unique<std::array<uint32_t, kIcmpErrorKinds>>();
  ++(*fs.errors)[static_cast<size_t>(c.error)];
  if (!c.seq_known) {
    ++counters_.unattributed_errors;
    return;
  }
  Slot* slot = FindSlot(c.target, c.flow, c.seq16);
  if (slot == nullptr) {
    ++counters_.stale;
    return;
  }
  if (slot->state() == ProbeState::kPending) Resolve(c.target, c.flow, *slot, ProbeState::kLost);
}

std::string ActiveProber::CaptureFilter() const {
  // ICMP carries echo probes and every error quoting any probe.
  std::string filter = "icmp or icmp6";
  absl::flat_hash_set<uint32_t> seen;  // protocol << 16 | port
  for (size_t t = 0; t < codec_->target_count(); ++t) {
    const ProbeMethodSpec& spec = codec_->target(static_cast<uint32_t>(t)).spec;
    if (spec.method == ProbeMethod::kIcmpEcho) continue;
    const bool tcp = spec.method == ProbeMethod::kTcpSyn;
    if (!seen.insert((tcp ? 6u : 17u) << 16 | spec.port).second) continue;
    absl::StrAppend(&filter, " or (", tcp ? "tcp" : "udp", " port ", spec.port, ")");
  }
  return filter;
}

bool ActiveProber::Finished() const {
  return options_.rounds > 0 && scheduler_.done() && queue_.empty() && pending_ == 0;
}

std::vector<FlowReport> ActiveProber::TakeWindow(bool include_idle) {
  std::vector<FlowReport> out;
  for (uint32_t t = 0; t < targets_.size(); ++t) {
    for (int f = 0; f < options_.flows; ++f) {
      FlowStats& fs = Flow(t, static_cast<uint8_t>(f));
      const bool active = fs.sent || fs.received || fs.lost || fs.duplicates || fs.late ||
                          fs.no_request_timestamp || fs.errors;
      if (!active && !include_idle) continue;
      FlowReport r;
      r.target_index = t;
      r.target = codec_->target(t);
      r.flow = static_cast<uint8_t>(f);
      r.rtt_us = NewSketch();
      r.reflector_us = NewSketch();
      r.forward_us = NewSketch();
      r.backward_us = NewSketch();
      r.sent = fs.sent;
      r.received = fs.received;
      r.lost = fs.lost;
      r.duplicates = fs.duplicates;
      r.late = fs.late;
      r.no_request_timestamp = fs.no_request_timestamp;
      if (fs.errors) {
        for (size_t k = 0; k < fs.errors->size(); ++k) r.errors[k] = (*fs.errors)[k];
      }
      if (fs.min_rtt_ns >= 0) r.min_rtt = absl::Nanoseconds(fs.min_rtt_ns);
      if (fs.rtt_us) {
        r.rtt_us = std::move(*fs.rtt_us);
      } else if (!fs.rtt.empty()) {
        fs.rtt.MoveTo(&r.rtt_us, static_cast<double>(fs.min_rtt_ns) / 1e3,
                      static_cast<double>(fs.max_rtt_ns) / 1e3);
      }
      if (fs.stamp) {
        r.reflector_us = std::move(fs.stamp->reflector_us);
        r.forward_us = std::move(fs.stamp->forward_us);
        r.backward_us = std::move(fs.stamp->backward_us);
      }
      // Reset, keeping the sequence, the busy ports and the histogram's
      // storage (emptied above).
      RttHistogram rtt = std::move(fs.rtt);
      const uint32_t next_seq = fs.next_seq;
      const uint32_t busy_ports = fs.busy_ports;
      fs = FlowStats{};
      fs.next_seq = next_seq;
      fs.busy_ports = busy_ports;
      fs.rtt = std::move(rtt);
      out.push_back(std::move(r));
    }
  }
  return out;
}

ActiveProber::MemoryUsage ActiveProber::Memory() const {
  MemoryUsage m;
  m.tables =
      sizeof(*this) + targets_.capacity() * sizeof(TargetState) +
      flows_.capacity() * sizeof(FlowStats) + source_addresses_.capacity() * sizeof(IpAddress) +
      stamp_ports_.capacity() * sizeof(uint16_t) + sizeof(ProbeCodec) + codec_->AllocatedBytes() +
      scheduler_.AllocatedBytes() + sources_.capacity() * sizeof(SourceEntry);
  for (const FlowStats& fs : flows_) {
    m.statistics += fs.rtt.AllocatedBytes();
    if (fs.rtt_us) m.statistics += sizeof(QuantileSketch) + fs.rtt_us->AllocatedBytes();
    if (fs.errors) m.statistics += sizeof(*fs.errors);
    if (fs.stamp) {
      m.statistics += sizeof(StampStats) + fs.stamp->reflector_us.AllocatedBytes() +
                      fs.stamp->forward_us.AllocatedBytes() +
                      fs.stamp->backward_us.AllocatedBytes();
    }
  }
  m.in_flight = slots_.capacity() * sizeof(Slot);
  m.send_log = sent_log_.allocated_bytes();
  m.backlog = queue_.allocated_bytes();
  return m;
}

size_t ActiveProber::BytesPerTarget() const {
  if (targets_.empty()) return 0;
  return Memory().total() / targets_.size();
}

}  // namespace vantage::probe
