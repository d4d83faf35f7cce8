// PassiveRtt's per-flow shortcut (the SYN that creates a flow, in one step)
// and fast path against its general state machine
// (PassiveRttOptions::general_path_only), on random connection lifecycles
// (flows closed by FINs, resets and new SYNs on their tuple, evicted, or
// rejected by a full table), under the options the per-flow code reads:
// every sink call, in order, and every counter must be equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "probe/passive_rtt.h"
#include "tests/probe/packet_builder.h"

namespace vantage::probe {
namespace {

using testing::Link;
using testing::PacketBuilder;
using testing::TcpSpec;

// Records every call, in order; batching or not.
class LifecycleSink : public PassiveRttSink {
 public:
  explicit LifecycleSink(bool batching) : batching_(batching) {}
  bool batches_samples() const override { return batching_; }
  void OnSample(const RttSample& s) override {
    samples.emplace_back(absl::ToUnixNanos(s.time), absl::ToInt64Nanoseconds(s.rtt),
                         static_cast<int>(s.method), static_cast<int>(s.leg),
                         s.client_prefix.ToString(), s.flow_id, s.server.ToString(), s.client_port);
  }
  void OnFlow(absl::Time time, const Prefix& p) override {
    flows.emplace_back(absl::ToUnixNanos(time), p.ToString());
  }
  void OnTraffic(absl::Time time, const Prefix& p, uint64_t n, uint64_t ip_bytes) override {
    traffic.emplace_back(absl::ToUnixNanos(time), p.ToString(), n, ip_bytes);
  }
  void OnFlowReport(const FlowReport& report) override {
    std::vector<std::tuple<int64_t, int64_t, size_t>> batch;
    for (const FlowRttSample& s : report.samples)
      batch.emplace_back(s.time_ns(), s.rtt_ns(), s.series());
    reports.emplace_back(report.client_prefix->ToString(), report.new_flow, report.first_seen_ns,
                         std::move(batch), report.last_seen_ns, report.packets, report.ip_bytes);
  }

  std::vector<std::tuple<int64_t, int64_t, int, int, std::string, uint64_t, std::string, uint16_t>>
      samples;
  std::vector<std::pair<int64_t, std::string>> flows;
  std::vector<std::tuple<int64_t, std::string, uint64_t, uint64_t>> traffic;
  std::vector<
      std::tuple<std::string, bool, int64_t, std::vector<std::tuple<int64_t, int64_t, size_t>>,
                 int64_t, uint64_t, uint64_t>>
      reports;

 private:
  bool batching_;
};

struct Captured {
  int64_t time_ns;
  std::vector<uint8_t> bytes;
  int link_type;
};

// Connections on a few tuples, each step a random event of its lifecycle:
// SYNs (first, retransmitted, simultaneous, on a tuple still tracked),
// SYN-ACKs (right or wrong ACK), handshake ACKs, data, FINs from either
// side with their ACKs, resets; with and without timestamps. With
// `ordered` (percent), that share of the steps is instead the tuple's next
// step of an orderly connection (SYN, SYN-ACK, ACK, a request and its
// response, FIN, now and then its ACK, FIN, last ACK), which the
// per-packet shortcuts take.
std::vector<Captured> Lifecycles(uint32_t seed, uint32_t ordered = 0) {
  std::mt19937 random(seed);
  auto pick = [&random](uint32_t n) { return static_cast<uint32_t>(random() % n); };
  struct Tuple {
    uint32_t seq[2] = {1000, 500000};
    uint32_t tsval[2] = {10, 90000};
    uint32_t echo[2] = {0, 0};  // the other side's latest TSval, as this side saw it
    bool timestamps = true;
    uint32_t phase = 0;  // its next orderly step
  };
  std::vector<Tuple> tuples(24);
  std::vector<Captured> out;
  int64_t now = 1700000000000000000;
  for (int step = 0; step < 6000; ++step) {
    now += 1000 + pick(300000);
    const uint32_t t = pick(static_cast<uint32_t>(tuples.size()));
    Tuple& tuple = tuples[t];
    const bool v6 = t % 4 == 3;
    const IpAddress client = v6 ? IpAddress::Parse("2001:db8:7::" + std::to_string(t + 1)).value()
                                : IpAddress::V4(0xc6120000u + t * 613);
    const IpAddress server =
        v6 ? IpAddress::Parse("2001:db8::80").value() : IpAddress::V4(0xc6130001u);
    int from = static_cast<int>(pick(2));
    uint8_t flags = kTcpAck;
    size_t length = 0;
    const uint32_t kind = pick(100);
    if (pick(100) < ordered) {
      // The orderly step: SYN (a new connection), SYN-ACK, ACK, request,
      // response, FIN, (half the time) the ACK of that FIN, FIN, last ACK.
      static constexpr uint8_t kFlags[] = {kTcpSyn, kTcpSyn | kTcpAck, kTcpAck,
                                           kTcpAck, kTcpAck,           kTcpFin | kTcpAck,
                                           kTcpAck, kTcpFin | kTcpAck, kTcpAck};
      static constexpr int kFrom[] = {0, 1, 0, 0, 1, 0, 1, 1, 0};
      uint32_t phase = tuple.phase;
      if (phase == 6 && pick(2) == 0) phase = 7;
      tuple.phase = (phase + 1) % 9;
      flags = kFlags[phase];
      from = kFrom[phase];
      if (phase == 0) {
        tuple.seq[0] += 100000 + pick(1000);
        tuple.timestamps = pick(8) != 0;
      }
      if (phase == 3 || phase == 4) length = 1 + pick(300);
    } else if (kind < 14) {
      // A SYN: a new connection (new sequence numbers) or a retransmission.
      from = pick(8) == 0 ? 1 : 0;  // now and then a simultaneous open
      flags = kTcpSyn;
      if (pick(3) != 0) {
        tuple.seq[from] += 100000 + pick(1000);
        tuple.timestamps = pick(4) != 0;
      }
    } else if (kind < 26) {
      from = 1;
      flags = kTcpSyn | kTcpAck;
    } else if (kind < 40) {
      flags = kTcpAck;  // a handshake ACK or a bare ACK
    } else if (kind < 52) {
      flags = kTcpFin | kTcpAck;
    } else if (kind < 55) {
      flags = kTcpRst | (pick(2) == 0 ? kTcpAck : 0);
    } else {
      length = 1 + pick(300);
    }
    TcpSpec spec;
    spec.src_port = from == 0 ? static_cast<uint16_t>(41000 + t % 7) : 443;
    spec.dst_port = from == 0 ? 443 : static_cast<uint16_t>(41000 + t % 7);
    spec.flags = flags;
    spec.seq = tuple.seq[from] - ((flags & kTcpSyn) != 0 ? 1 : 0);
    // Mostly the other side's next byte; now and then not (a wrong ACK, or
    // one short of it: sent before that side's last byte or FIN arrived).
    const uint32_t off = pick(10);
    spec.ack =
        (flags & kTcpAck) != 0 ? tuple.seq[1 - from] + (off == 0 ? 7 : 0) - (off == 1 ? 1 : 0) : 0;
    if (tuple.timestamps && pick(20) != 0) {
      spec.timestamps = std::make_pair(tuple.tsval[from], tuple.echo[from]);
      tuple.echo[1 - from] = tuple.tsval[from];
      tuple.tsval[from] += pick(3);
    }
    spec.payload = std::string(length, 'p');
    tuple.seq[from] += static_cast<uint32_t>(length) + ((flags & kTcpFin) != 0 ? 1 : 0);
    PacketBuilder b(from == 0 ? client : server, from == 0 ? server : client);
    b.WithLink(v6 ? Link::kRaw : Link::kEthernet);
    out.push_back({now, b.Tcp(spec), b.link_type()});
  }
  return out;
}

// The shortcuts and fast path against the general path on `packets`, under
// each combination of the options the per-flow code reads.
void ExpectShortcutsEqualTheGeneralPath(const std::vector<Captured>& packets);

// The lifecycle tests' table: 16 flows (full now and then: new flows
// rejected), idle after 400 ms, swept every 100 ms.
PassiveRttOptions LifecycleOptions(size_t max_pending) {
  PassiveRttOptions options;
  options.max_flows = 16;
  options.flow_idle_timeout = absl::Milliseconds(400);
  options.sweep_interval = absl::Milliseconds(100);
  options.max_pending_per_direction = max_pending;
  return options;
}

// A PassiveRtt of `options` and the LifecycleSink it reports to (built in
// place: the tracker keeps the sink's address).
struct Tracked {
  Tracked(const PassiveRttOptions& options, bool batching)
      : sink(batching), rtt(PassiveRtt::Create(options, &sink)) {}
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  PassiveRtt* tracker() const { return rtt->get(); }

  LifecycleSink sink;
  absl::StatusOr<std::unique_ptr<PassiveRtt>> rtt;
};

// Every sink call equal.
void ExpectSameCalls(const LifecycleSink& a, const LifecycleSink& b) {
  EXPECT_EQ(a.samples, b.samples);
  EXPECT_EQ(a.flows, b.flows);
  EXPECT_EQ(a.traffic, b.traffic);
  EXPECT_EQ(a.reports, b.reports);
}

void Replay(const std::vector<Captured>& packets, PassiveRtt* rtt) {
  for (const Captured& c : packets) {
    CapturedPacket p;
    p.time_ns = c.time_ns;
    p.bytes = absl::MakeConstSpan(c.bytes);
    p.wire_length = static_cast<uint32_t>(c.bytes.size());
    p.link_type = c.link_type;
    rtt->OnCapturedPacket(p);
  }
  rtt->Flush();
}

TEST(PassiveRttFlowTest, ShortcutsEqualTheGeneralPathOnRandomLifecycles) {
  // Random events only, and mostly orderly connections with random events
  // between their steps.
  for (const uint32_t ordered : {0u, 80u}) {
    SCOPED_TRACE(::testing::Message() << "ordered " << ordered);
    ExpectShortcutsEqualTheGeneralPath(Lifecycles(5 + ordered, ordered));
  }
}

void ExpectShortcutsEqualTheGeneralPath(const std::vector<Captured>& packets) {
  uint64_t closed = 0;
  uint64_t created = 0;
  uint64_t handshakes = 0;
  for (const bool batching : {true, false}) {
    for (const bool rate_limit : {false, true}) {
      for (const int sides : {0, 1, 2}) {  // by SYN, by local port, by local prefix
        for (const size_t max_pending : {size_t{1}, size_t{3}}) {
          SCOPED_TRACE(::testing::Message() << batching << rate_limit << sides << max_pending);
          PassiveRttOptions options = LifecycleOptions(max_pending);
          if (rate_limit) options.min_sample_interval = absl::Milliseconds(10);
          if (sides == 1) options.local_ports = {443};
          if (sides == 2) options.local_prefixes = {Prefix::Parse("198.19.0.0/16").value()};
          PassiveRttOptions general_options = options;
          general_options.general_path_only = true;
          Tracked ours(options, batching);
          Tracked general(general_options, batching);
          ASSERT_TRUE(ours.rtt.ok() && general.rtt.ok());
          Replay(packets, ours.tracker());
          Replay(packets, general.tracker());
          ExpectSameCalls(ours.sink, general.sink);
          const PassiveRttStats& a = ours.tracker()->stats();
          const PassiveRttStats& e = general.tracker()->stats();
          EXPECT_EQ(a.flows_created, e.flows_created);
          EXPECT_EQ(a.flows_evicted_idle, e.flows_evicted_idle);
          EXPECT_EQ(a.flows_closed, e.flows_closed);
          EXPECT_EQ(a.flows_rejected_full, e.flows_rejected_full);
          EXPECT_EQ(a.pending_evicted, e.pending_evicted);
          EXPECT_EQ(a.pending_expired, e.pending_expired);
          EXPECT_EQ(a.karn_discarded, e.karn_discarded);
          EXPECT_EQ(a.rate_limited, e.rate_limited);
          EXPECT_EQ(a.samples, e.samples);
          EXPECT_EQ(ours.tracker()->flow_count(), general.tracker()->flow_count());
          closed += a.flows_closed;
          created += a.flows_created;
          handshakes += a.samples[static_cast<size_t>(RttMethod::kHandshake)];
          if (rate_limit) {
            EXPECT_GT(a.rate_limited, 0u);
          }
          EXPECT_GT(a.flows_rejected_full, 0u);
        }
      }
    }
  }
  // The mix exercised what it is meant to.
  EXPECT_GT(closed, 500u);
  EXPECT_GT(created, 1000u);
  EXPECT_GT(handshakes, 500u);
}

// Insert resets only what a new flow reads before writing it (the rest
// keeps the entry's previous flow's values until written): the same
// lifecycles on a PassiveRtt whose entries all held other flows (ended, or
// evicted idle by the first packet's sweep) and on a fresh one give the
// same sink calls (flow ids offset by the earlier flows) and counters.
TEST(PassiveRttFlowTest, ReusedEntriesBehaveAsFreshOnes) {
  std::vector<Captured> earlier = Lifecycles(91, 50);
  for (Captured& c : earlier) c.time_ns -= int64_t{3600} * 1000000000;  // all idle by then
  const std::vector<Captured> packets = Lifecycles(17, 80);
  uint64_t reused = 0;
  for (const bool batching : {true, false}) {
    for (const bool general : {false, true}) {
      for (const size_t max_pending : {size_t{1}, size_t{3}}) {
        SCOPED_TRACE(::testing::Message() << batching << general << max_pending);
        PassiveRttOptions options = LifecycleOptions(max_pending);
        options.general_path_only = general;
        Tracked fresh(options, batching);
        Tracked used(options, batching);
        ASSERT_TRUE(fresh.rtt.ok() && used.rtt.ok());
        Replay(earlier, used.tracker());
        const PassiveRttStats before = used.tracker()->stats();
        const size_t live_before = used.tracker()->flow_count();
        ASSERT_GT(live_before, 0u);
        used.sink = LifecycleSink(batching);  // only the calls from here on
        Replay(packets, fresh.tracker());
        Replay(packets, used.tracker());
        for (auto& sample : used.sink.samples) std::get<5>(sample) -= before.flows_created;
        // A sweep reports flows in entry order, which differs: those calls
        // compared as sets.
        for (LifecycleSink* sink : {&used.sink, &fresh.sink}) {
          std::sort(sink->traffic.begin(), sink->traffic.end());
          std::sort(sink->reports.begin(), sink->reports.end());
        }
        ExpectSameCalls(used.sink, fresh.sink);
        const PassiveRttStats& a = used.tracker()->stats();
        const PassiveRttStats& e = fresh.tracker()->stats();
        EXPECT_EQ(a.flows_created - before.flows_created, e.flows_created);
        EXPECT_EQ(a.flows_closed - before.flows_closed, e.flows_closed);
        EXPECT_EQ(a.flows_rejected_full - before.flows_rejected_full, e.flows_rejected_full);
        EXPECT_EQ(a.pending_evicted - before.pending_evicted, e.pending_evicted);
        EXPECT_EQ(a.pending_expired - before.pending_expired, e.pending_expired);
        EXPECT_EQ(a.karn_discarded - before.karn_discarded, e.karn_discarded);
        for (size_t m = 0; m < a.samples.size(); ++m) {
          EXPECT_EQ(a.samples[m] - before.samples[m], e.samples[m]);
        }
        // The earlier flows still live were evicted idle at the first packet.
        EXPECT_EQ(a.flows_evicted_idle - before.flows_evicted_idle,
                  e.flows_evicted_idle + live_before);
        EXPECT_EQ(used.tracker()->flow_count(), fresh.tracker()->flow_count());
        reused += before.flows_created;
      }
    }
  }
  EXPECT_GT(reused, 1000u);
}

}  // namespace
}  // namespace vantage::probe
