#include "probe/active_prober.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "probe/ping_session.h"
#include "tests/probe/active_probe_fakes.h"

namespace vantage::probe {
namespace {

using testing::FakePacketSource;
using testing::FakeProbeSender;
using testing::IcmpErrorPacket;
using testing::ReplyPacket;
using testing::RequestPacket;
using testing::SentProbe;

IpAddress Ip(const char* s) { return *IpAddress::Parse(s); }

template <typename F>
ActiveProber::Options Opts(F set) {
  ActiveProber::Options o;
  set(o);
  return o;
}

class ActiveProberTest : public ::testing::Test {
 protected:
  void Make(ActiveProber::Options options) {
    options.seed = 42;
    options.local_clock_synchronized = true;
    // The old prober holds the old loop: it must go first (a second Make()
    // in one test otherwise destroys the loop under it).
    prober_.reset();
    loop_ = *EventLoop::Create();
    prober_ =
        *ActiveProber::Create(options, loop_.get(), &clock_, &sender_, ProbeSecret::FromKey(5, 6));
    ASSERT_TRUE(prober_->AddSource(&source_, IpPacketFromCapture).ok());
  }
  uint32_t Add(const char* address, const char* method = "icmp") {
    return *prober_->AddTarget({Ip(address), *ProbeMethodSpec::Parse(method)});
  }
  // Wall-clock capture time for "now + offset".
  absl::Time Wire(absl::Duration offset = absl::ZeroDuration()) { return clock_.Now() + offset; }
  void Step(absl::Duration d) {
    clock_.Advance(d);
    prober_->RunDue();
  }
  const FlowReport* Find(const std::vector<FlowReport>& reports, uint32_t target, uint8_t flow) {
    for (const auto& r : reports) {
      if (r.target_index == target && r.flow == flow) return &r;
    }
    return nullptr;
  }

  FakeClock clock_;
  FakeProbeSender sender_;
  FakePacketSource source_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ActiveProber> prober_;
};

TEST_F(ActiveProberTest, RttIsReplyCaptureMinusRequestCapture) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(100);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 3;
  }));
  const uint32_t t = Add("198.18.1.1");
  ASSERT_TRUE(prober_->Start().ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  const absl::Duration rtts[] = {absl::Microseconds(1234), absl::Microseconds(2000),
                                 absl::Microseconds(1500)};
  for (int i = 0; i < 3; ++i) {
    const auto& probe = sender_.sent.back();
    // The user-space send time is irrelevant: only capture timestamps count.
    source_.Push(Wire(absl::Microseconds(300)), RequestPacket(probe));
    source_.Push(Wire(absl::Microseconds(300) + rtts[i]), ReplyPacket(probe));
    prober_->DrainCaptures();
    if (i < 2) Step(absl::Milliseconds(100));
  }
  Step(absl::Seconds(2));
  EXPECT_TRUE(prober_->Finished());
  auto reports = prober_->TakeWindow();
  const FlowReport* r = Find(reports, t, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->sent, 3u);
  EXPECT_EQ(r->received, 3u);
  EXPECT_EQ(r->lost, 0u);
  EXPECT_EQ(*r->min_rtt, absl::Microseconds(1234));
  EXPECT_NEAR(r->rtt_us.Quantile(0.5), 1500, 15);
  EXPECT_NEAR(r->rtt_us.max(), 2000, 20);
}

// Regression (lab accuracy check): with the default 1% sketch a 50.1 ms
// median came out as 50.53 ms, using up the whole 1% accuracy budget on
// quantisation alone. A finer sketch_alpha reports it to 0.1%.
TEST_F(ActiveProberTest, SketchAlphaSetsTheMedianPrecision) {
  for (const double alpha : {0.01, 0.001}) {
    SCOPED_TRACE(alpha);
    Make(Opts([alpha](ActiveProber::Options& o) {
      o.interval = absl::Milliseconds(100);
      o.random_phase = false;
      o.jitter = 0;
      o.rounds = 5;
      o.sketch_alpha = alpha;
      o.sketch_max_bins = 4096;
    }));
    const uint32_t t = Add("198.18.1.1");
    ASSERT_TRUE(prober_->Start().ok());
    for (int i = 0; i < 5; ++i) {
      const auto& probe = sender_.sent.back();
      source_.Push(Wire(), RequestPacket(probe));
      source_.Push(Wire(absl::Microseconds(50'100 + 10 * i)), ReplyPacket(probe));
      prober_->DrainCaptures();
      if (i < 4) Step(absl::Milliseconds(100));
    }
    Step(absl::Seconds(2));
    auto reports = prober_->TakeWindow();
    const FlowReport* r = Find(reports, t, 0);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->received, 5u);
    EXPECT_DOUBLE_EQ(r->rtt_us.alpha(), alpha);
    EXPECT_NEAR(r->rtt_us.Quantile(0.5), 50'120, 50'120 * alpha);
    if (alpha < 0.01) {
      EXPECT_NEAR(r->rtt_us.Quantile(0.5), 50'120, 60);
    }
  }
  ActiveProber::Options bad;
  bad.sketch_alpha = 0;
  EXPECT_FALSE(
      ActiveProber::Create(bad, loop_.get(), &clock_, &sender_, ProbeSecret::FromKey(5, 6)).ok());
}

TEST_F(ActiveProberTest, LossDuplicatesAndLateRepliesAreCountedExactly) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(10);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 4;
    o.timeout = absl::Milliseconds(50);
    o.capture_grace = absl::Milliseconds(10);
  }));
  const uint32_t t = Add("198.18.1.1");
  ASSERT_TRUE(prober_->Start().ok());
  for (int i = 0; i < 3; ++i) Step(absl::Milliseconds(10));
  ASSERT_EQ(sender_.sent.size(), 4u);
  for (const auto& p : sender_.sent) source_.Push(Wire(), RequestPacket(p));
  // #0 answered twice (one duplicate), #1 answered too late by capture time,
  // #2 never, #3 after it was already declared lost.
  source_.Push(Wire(absl::Microseconds(100)), ReplyPacket(sender_.sent[0]));
  source_.Push(Wire(absl::Microseconds(200)), ReplyPacket(sender_.sent[0]));
  source_.Push(Wire(absl::Milliseconds(51)), ReplyPacket(sender_.sent[1]));
  prober_->DrainCaptures();
  Step(absl::Milliseconds(200));
  source_.Push(Wire(), ReplyPacket(sender_.sent[3]));
  Step(absl::Milliseconds(1));
  EXPECT_TRUE(prober_->Finished());
  auto reports = prober_->TakeWindow();
  const FlowReport* r = Find(reports, t, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->sent, 4u);
  EXPECT_EQ(r->received, 1u);
  EXPECT_EQ(r->lost, 3u);
  EXPECT_EQ(r->duplicates, 1u);
  EXPECT_EQ(r->late, 2u);
  EXPECT_EQ(r->rtt_us.count(), 1u);
  EXPECT_EQ(r->sent, r->received + r->lost);
}

// Resolved probes are remembered until `memory` after their send (the
// documented horizon): replies and copies until then are late or duplicate;
// afterwards stale, never forged. The slot is then free (in_flight() 0).
TEST_F(ActiveProberTest, LateAndDuplicateRepliesAreRecognisedUntilTheMemoryHorizon) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Seconds(10);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 1;
    o.timeout = absl::Milliseconds(500);
    o.capture_grace = absl::Milliseconds(100);
    o.memory = absl::Milliseconds(1100);  // PingSession's 2 x timeout + grace
  }));
  const uint32_t t = Add("198.18.1.1");
  const uint32_t u = Add("198.18.1.2");
  ASSERT_TRUE(prober_->Start().ok());
  ASSERT_EQ(sender_.sent.size(), 2u);
  for (const auto& p : sender_.sent) source_.Push(Wire(), RequestPacket(p));
  // t answered in time; u not.
  source_.Push(Wire(absl::Microseconds(30)), ReplyPacket(sender_.sent[0]));
  prober_->DrainCaptures();
  Step(absl::Milliseconds(700));  // u is lost now (timeout + grace)
  EXPECT_EQ(prober_->in_flight(), 2u);
  // 1.05 s after the send, inside the horizon: a copy of t's reply is a
  // duplicate, u's reply late.
  Step(absl::Milliseconds(350));
  source_.Push(Wire(), ReplyPacket(sender_.sent[0]));
  source_.Push(Wire(), ReplyPacket(sender_.sent[1]));
  prober_->DrainCaptures();
  EXPECT_EQ(prober_->counters().stale, 0u);
  // Past the horizon (1.2 s) both are forgotten: stale, not forged.
  Step(absl::Milliseconds(150));
  EXPECT_EQ(prober_->in_flight(), 0u);
  source_.Push(Wire(), ReplyPacket(sender_.sent[0]));
  source_.Push(Wire(), ReplyPacket(sender_.sent[1]));
  prober_->DrainCaptures();
  EXPECT_EQ(prober_->counters().stale, 2u);
  EXPECT_EQ(prober_->counters().forged, 0u);
  EXPECT_TRUE(prober_->Finished());
  const auto reports = prober_->TakeWindow();
  const FlowReport* rt = Find(reports, t, 0);
  const FlowReport* ru = Find(reports, u, 0);
  ASSERT_NE(rt, nullptr);
  ASSERT_NE(ru, nullptr);
  EXPECT_EQ(rt->received, 1u);
  EXPECT_EQ(rt->duplicates, 1u);
  EXPECT_EQ(ru->lost, 1u);
  EXPECT_EQ(ru->late, 1u);
  EXPECT_EQ(ru->received, 0u);
}

TEST_F(ActiveProberTest, ForgedRepliesAreRejectedAndCounted) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(10);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 1;
  }));
  Add("198.18.1.1");
  Add("198.18.1.2", "tcp:80");
  Add("198.18.1.3", "stamp");
  ASSERT_TRUE(prober_->Start().ok());
  ASSERT_EQ(sender_.sent.size(), 3u);
  // A prober with another secret builds the same probes: its replies must
  // never match ours.
  FakeProbeSender other_sender;
  auto other =
      *ActiveProber::Create(Opts([](ActiveProber::Options& o) {
                              o.random_phase = false;
                              o.jitter = 0;
                              o.rounds = 1;
                              o.seed = 42;
                            }),
                            loop_.get(), &clock_, &other_sender, ProbeSecret::FromKey(7, 8));
  for (const char* a : {"198.18.1.1"}) (void)*other->AddTarget({Ip(a), {}});
  (void)*other->AddTarget({Ip("198.18.1.2"), *ProbeMethodSpec::Parse("tcp:80")});
  (void)*other->AddTarget({Ip("198.18.1.3"), *ProbeMethodSpec::Parse("stamp")});
  ASSERT_TRUE(other->Start().ok());
  ASSERT_EQ(other_sender.sent.size(), 3u);
  for (const auto& p : sender_.sent) source_.Push(Wire(), RequestPacket(p));
  for (const auto& p : other_sender.sent)
    source_.Push(Wire(absl::Microseconds(50)), ReplyPacket(p));
  // And one with the right ICMP id but a broken MAC.
  auto tampered = ReplyPacket(sender_.sent[0]);
  tampered[20 + 8 + 10] ^= 1;
  source_.Push(Wire(absl::Microseconds(60)), tampered);
  prober_->DrainCaptures();
  Step(absl::Seconds(3));
  const auto& c = prober_->counters();
  // The other run's ICMP id differs from ours: that reply is not even
  // addressed to our flows (unrelated); TCP and STAMP land on our ports.
  EXPECT_EQ(c.forged, 3u);
  EXPECT_EQ(c.unrelated, 1u);
  uint64_t received = 0;
  for (const auto& r : prober_->TakeWindow()) received += r.received;
  EXPECT_EQ(received, 0u);
}

TEST_F(ActiveProberTest, IcmpErrorsResolveTheProbeAndCountByKind) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(10);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 2;
  }));
  const uint32_t u = Add("198.18.1.1", "stamp");
  const uint32_t v = Add("2001:db8::5", "tcp:22");
  ASSERT_TRUE(prober_->Start().ok());
  Step(absl::Milliseconds(10));
  ASSERT_EQ(sender_.sent.size(), 4u);
  for (const auto& p : sender_.sent) source_.Push(Wire(), RequestPacket(p));
  for (const auto& p : sender_.sent) {
    if (p.destination.is_v4()) {
      source_.Push(Wire(), IcmpErrorPacket(p, Ip("198.18.1.1"), 3, 3));
    } else {
      source_.Push(Wire(), IcmpErrorPacket(p, Ip("2001:db8::fe"), 3, 0));  // time exceeded
    }
  }
  prober_->DrainCaptures();
  EXPECT_EQ(prober_->in_flight(), 4u);  // resolved, still remembered
  Step(absl::Milliseconds(1));
  EXPECT_TRUE(prober_->Finished());  // resolved before the timeout
  auto reports = prober_->TakeWindow();
  const FlowReport* ru = Find(reports, u, 0);
  const FlowReport* rv = Find(reports, v, 0);
  ASSERT_TRUE(ru && rv);
  EXPECT_EQ(ru->lost, 2u);
  EXPECT_EQ(ru->errors[static_cast<size_t>(IcmpErrorKind::kPortUnreachable)], 2u);
  EXPECT_EQ(rv->lost, 2u);
  EXPECT_EQ(rv->errors[static_cast<size_t>(IcmpErrorKind::kTimeExceeded)], 2u);
}

TEST_F(ActiveProberTest, TcpSynAckIsResetAndStampReportsReflectorTimes) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(10);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 1;
  }));
  const uint32_t tcp = Add("198.18.1.2", "tcp:443");
  const uint32_t stamp = Add("2001:db8::3", "stamp");
  ASSERT_TRUE(prober_->Start().ok());
  ASSERT_EQ(sender_.sent.size(), 2u);
  const auto syn = sender_.sent[0];
  const auto test = sender_.sent[1];
  source_.Push(Wire(), RequestPacket(syn));
  source_.Push(Wire(), RequestPacket(test));
  source_.Push(Wire(absl::Microseconds(800)), ReplyPacket(syn));
  // Reflector: received 300 µs after our request, sent 50 µs later; reply
  // captured 1000 µs after the request.
  source_.Push(
      Wire(absl::Microseconds(1000)),
      ReplyPacket(test, false, Wire(absl::Microseconds(300)), Wire(absl::Microseconds(350))));
  prober_->DrainCaptures();
  ASSERT_EQ(sender_.sent.size(), 3u);
  const auto& rst = sender_.sent[2].packet;
  EXPECT_EQ(rst.protocol, 6);
  EXPECT_EQ(rst.bytes[13], 0x04);  // RST
  const uint32_t isn = static_cast<uint32_t>(syn.packet.bytes[4]) << 24 |
                       static_cast<uint32_t>(syn.packet.bytes[5]) << 16 |
                       static_cast<uint32_t>(syn.packet.bytes[6]) << 8 | syn.packet.bytes[7];
  const uint32_t rst_seq = static_cast<uint32_t>(rst.bytes[4]) << 24 |
                           static_cast<uint32_t>(rst.bytes[5]) << 16 |
                           static_cast<uint32_t>(rst.bytes[6]) << 8 | rst.bytes[7];
  EXPECT_EQ(rst_seq, isn + 1);
  Step(absl::Seconds(2));
  auto reports = prober_->TakeWindow();
  const FlowReport* rt = Find(reports, tcp, 0);
  const FlowReport* rs = Find(reports, stamp, 0);
  ASSERT_TRUE(rt && rs);
  EXPECT_EQ(rt->received, 1u);
  EXPECT_EQ(*rt->min_rtt, absl::Microseconds(800));
  EXPECT_EQ(rs->received, 1u);
  EXPECT_NEAR(rs->reflector_us.Quantile(0.5), 50, 1);
  // The network's round trip: 1000 µs between the captures less the
  // reflector's 50 µs.
  EXPECT_EQ(*rs->min_rtt, absl::Microseconds(950));
  EXPECT_NEAR(rs->forward_us.Quantile(0.5), 300, 3);
  EXPECT_NEAR(rs->backward_us.Quantile(0.5), 650, 7);
}

TEST_F(ActiveProberTest, GlobalRateCeilingDelaysButNeverDrops) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Seconds(1);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 1;
    o.max_pps = 1000;
    o.bucket_burst = 10;
  }));
  for (int i = 0; i < 100; ++i) Add(absl::StrCat("198.18.2.", i).c_str());
  ASSERT_TRUE(prober_->Start().ok());
  EXPECT_EQ(sender_.sent.size(), 10u);  // the burst
  Step(absl::Milliseconds(10));
  Step(absl::Milliseconds(10));
  EXPECT_EQ(sender_.sent.size(), 30u);  // 1000/s
  for (int i = 0; i < 7; ++i) Step(absl::Milliseconds(10));
  EXPECT_EQ(sender_.sent.size(), 100u);
  EXPECT_EQ(prober_->counters().rate_limited, 90u);
}

TEST_F(ActiveProberTest, WakeUpPeriodGrowsWithTheRateUpToAQuarterInterval) {
  const auto period = [this](int targets, absl::Duration interval, uint32_t coalesce_probes,
                             absl::Duration minimum = absl::Milliseconds(1)) {
    Make(Opts([&](ActiveProber::Options& o) {
      o.interval = interval;
      o.coalesce_probes = coalesce_probes;
      o.timer_coalescing = minimum;
    }));
    for (int i = 0; i < targets; ++i) {
      Add(absl::StrCat("198.18.", 2 + i / 250, ".", i % 250).c_str());
    }
    return prober_->coalescing();
  };
  // 50,000 probes/s: 256 probes take 5.12 ms, capped at 20 ms / 4.
  EXPECT_EQ(period(1000, absl::Milliseconds(20), 256), absl::Milliseconds(5));
  // 100,000 probes/s: 2.56 ms, under the cap.
  EXPECT_EQ(period(2000, absl::Milliseconds(20), 256), absl::Microseconds(2560));
  // Slow schedules: the quarter interval, at most 10 ms.
  EXPECT_EQ(period(10, absl::Milliseconds(10), 256), absl::Microseconds(2500));
  EXPECT_EQ(period(10, absl::Seconds(1), 256), absl::Milliseconds(10));
  // Never below the configured minimum; 0 keeps the fixed period.
  EXPECT_EQ(period(1000, absl::Milliseconds(10), 256, absl::Milliseconds(4)),
            absl::Milliseconds(4));
  EXPECT_EQ(period(1000, absl::Milliseconds(20), 0), absl::Milliseconds(1));
  // The shortest interval sets the cap, the sum of rates the batch.
  Make(Opts([](ActiveProber::Options& o) { o.interval = absl::Seconds(1); }));
  Add("198.18.2.1");
  ASSERT_TRUE(
      prober_->AddTarget({Ip("198.18.2.2"), *ProbeMethodSpec::Parse("icmp")}, absl::Milliseconds(8))
          .ok());
  EXPECT_EQ(prober_->coalescing(), absl::Milliseconds(2));
}

TEST_F(ActiveProberTest, BurstsSpreadOverStableFlows) {
  auto options = Opts([](ActiveProber::Options& o) {
    o.flows = 4;
    o.burst = 8;
    o.interval = absl::Milliseconds(100);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 2;
  });
  // ICMP: each flow keeps one identifier.
  Make(options);
  const uint32_t icmp = Add("198.18.1.1");
  ASSERT_TRUE(prober_->Start().ok());
  ASSERT_EQ(sender_.sent.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    const auto& b = sender_.sent[i].packet.bytes;
    EXPECT_EQ(static_cast<uint16_t>(b[4] << 8 | b[5]),
              prober_->codec().IcmpId(icmp, static_cast<uint8_t>(i % 4)));
  }
  // TCP: every SYN of flow f leaves from flow f's own pool of ports; the
  // unanswered SYNs stay in flight, so each takes the next port of its pool.
  sender_.sent.clear();
  Make(options);
  const uint32_t t = Add("198.18.1.1", "tcp:80");
  ASSERT_TRUE(prober_->Start().ok());
  Step(absl::Milliseconds(100));
  ASSERT_EQ(sender_.sent.size(), 16u);
  std::array<std::set<uint16_t>, 4> pools;
  for (uint8_t f = 0; f < 4; ++f) {
    for (uint8_t slot = 0; slot < kTcpPortsPerFlow; ++slot) {
      pools[f].insert(prober_->codec().SourcePort(t, f, slot));
    }
  }
  std::set<uint16_t> all;
  for (size_t i = 0; i < sender_.sent.size(); ++i) {
    EXPECT_TRUE(pools[i % 4].contains(sender_.sent[i].packet.source_port)) << i;
    all.insert(sender_.sent[i].packet.source_port);
  }
  EXPECT_EQ(all.size(), 16u);  // no 5-tuple reused while in flight
  Step(absl::Seconds(3));
  auto reports = prober_->TakeWindow();
  for (uint8_t f = 0; f < 4; ++f) {
    const FlowReport* r = Find(reports, t, f);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->sent, 4u);
    EXPECT_EQ(r->lost, 4u);
  }
}

TEST_F(ActiveProberTest, SendFailuresAreNotCountedAsSent) {
  Make(Opts([](ActiveProber::Options& o) {
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 1;
  }));
  Add("198.18.1.1");
  sender_.fail_sends = true;
  ASSERT_TRUE(prober_->Start().ok());
  EXPECT_EQ(prober_->counters().send_errors, 1u);
  EXPECT_TRUE(prober_->Finished());
  EXPECT_TRUE(prober_->TakeWindow().empty());
}

// A SYN on a 5-tuple that still has one in flight is dropped by the
// target's kernel as a retransmission: each pending SYN holds its own port.
TEST_F(ActiveProberTest, TcpNeverReusesAFiveTupleWithAProbeInFlight) {
  Make(Opts([](ActiveProber::Options& o) {
    o.burst = kTcpPortsPerFlow + 4;
    o.interval = absl::Milliseconds(100);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 2;
    o.timeout = absl::Milliseconds(50);
    o.capture_grace = absl::Milliseconds(10);
  }));
  const uint32_t t = Add("198.18.1.1", "tcp:443");
  ASSERT_TRUE(prober_->Start().ok());
  // Round 1: the pool has kTcpPortsPerFlow ports; the 4 beyond are counted.
  ASSERT_EQ(sender_.sent.size(), static_cast<size_t>(kTcpPortsPerFlow));
  std::set<uint16_t> ports;
  for (const auto& p : sender_.sent) ports.insert(p.packet.source_port);
  EXPECT_EQ(ports.size(), static_cast<size_t>(kTcpPortsPerFlow));
  EXPECT_EQ(prober_->counters().tcp_ports_exhausted, 4u);
  // Half are answered (RST-ACK) and free their ports again; the rest time out.
  for (size_t i = 0; i < sender_.sent.size(); i += 2) {
    source_.Push(Wire(), RequestPacket(sender_.sent[i]));
    source_.Push(Wire(absl::Microseconds(100)), ReplyPacket(sender_.sent[i], true));
  }
  prober_->DrainCaptures();
  Step(absl::Milliseconds(100));
  // Round 2: by 100 ms all of round 1 is resolved (timeout + grace = 60 ms),
  // so every port is free again and they are taken lowest first.
  ASSERT_EQ(sender_.sent.size(), 2u * kTcpPortsPerFlow);
  for (int i = 0; i < kTcpPortsPerFlow; ++i) {
    EXPECT_EQ(sender_.sent[static_cast<size_t>(kTcpPortsPerFlow + i)].packet.source_port,
              prober_->codec().SourcePort(t, 0, static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(prober_->counters().tcp_ports_exhausted, 8u);
  Step(absl::Seconds(1));
  EXPECT_TRUE(prober_->Finished());
  const auto reports = prober_->TakeWindow();
  const FlowReport* r = Find(reports, t, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->sent, 2u * kTcpPortsPerFlow);
  EXPECT_EQ(r->received, static_cast<uint64_t>(kTcpPortsPerFlow / 2));
  EXPECT_EQ(r->sent, r->received + r->lost);
}

TEST_F(ActiveProberTest, APendingProbeFreesItsPortOnlyWhenResolved) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(10);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 3;
    o.timeout = absl::Milliseconds(500);
  }));
  const uint32_t t = Add("198.18.1.1", "tcp:80");
  ASSERT_TRUE(prober_->Start().ok());
  Step(absl::Milliseconds(10));
  // Probing faster than the RTT: the second SYN takes the next port.
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(sender_.sent[0].packet.source_port, prober_->codec().SourcePort(t, 0, 0));
  EXPECT_EQ(sender_.sent[1].packet.source_port, prober_->codec().SourcePort(t, 0, 1));
  // The first is answered: its port is the lowest free one again.
  source_.Push(Wire(), RequestPacket(sender_.sent[0]));
  source_.Push(Wire(absl::Microseconds(100)), ReplyPacket(sender_.sent[0]));
  prober_->DrainCaptures();
  Step(absl::Milliseconds(10));
  ASSERT_EQ(sender_.sent.size(), 4u);  // 2 SYNs and the RST for the SYN-ACK
  EXPECT_EQ(sender_.sent[2].packet.bytes[13], 0x04);
  EXPECT_EQ(sender_.sent[2].packet.source_port, prober_->codec().SourcePort(t, 0, 0));
  EXPECT_EQ(sender_.sent[3].packet.source_port, prober_->codec().SourcePort(t, 0, 0));
  EXPECT_EQ(prober_->counters().tcp_ports_exhausted, 0u);
}

// The in-flight ring of a flow is sized for its interval and memory (at most
// 4096 slots): a flow sending faster than that gives up its oldest pending
// probes, counted as lost and as evicted, never silently.
TEST_F(ActiveProberTest, EvictedProbesAreCountedAsLost) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(1);
    o.random_phase = false;
    o.jitter = 0;
    o.rounds = 4200;
    o.timeout = absl::Seconds(10);
    o.memory = absl::Seconds(10);
    o.max_pps = 1e6;
  }));
  const uint32_t t = Add("198.18.1.1");
  ASSERT_TRUE(prober_->Start().ok());
  for (int i = 0; i < 4199; ++i) Step(absl::Milliseconds(1));
  ASSERT_EQ(sender_.sent.size(), 4200u);
  EXPECT_EQ(prober_->counters().evicted, 4200u - 4096u);
  // The newest probes are still matched.
  source_.Push(Wire(), RequestPacket(sender_.sent.back()));
  source_.Push(Wire(absl::Microseconds(50)), ReplyPacket(sender_.sent.back()));
  // The first one's slot now holds another probe: its reply is stale.
  source_.Push(Wire(absl::Microseconds(60)), ReplyPacket(sender_.sent.front()));
  prober_->DrainCaptures();
  EXPECT_EQ(prober_->counters().stale, 1u);
  Step(absl::Seconds(11));
  EXPECT_TRUE(prober_->Finished());
  const auto reports = prober_->TakeWindow();
  const FlowReport* r = Find(reports, t, 0);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->sent, 4200u);
  EXPECT_EQ(r->received, 1u);
  EXPECT_EQ(r->lost, 4199u);
}

TEST_F(ActiveProberTest, MemoryPerTargetStaysUnderOneKibibyteAtTenThousandTargets) {
  Make(Opts([](ActiveProber::Options& o) {
    o.interval = absl::Milliseconds(100);
    o.random_phase = true;
    o.rounds = 3;
    o.max_pps = 1e6;
    o.bucket_burst = 1e6;
  }));
  prober_->ReserveTargets(10'000);
  for (int i = 0; i < 10'000; ++i) {
    const uint8_t b[4] = {198, 18, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    ASSERT_TRUE(prober_->AddTarget({IpAddress::V4Bytes(b), {}}).ok());
  }
  ASSERT_TRUE(prober_->Start().ok());
  // Answer everything with RTTs spread over 20 µs .. 20 ms.
  uint64_t k = 0;
  for (int step = 0; step < 40; ++step) {
    for (size_t i = k; i < sender_.sent.size(); ++i) {
      source_.Push(Wire(), RequestPacket(sender_.sent[i]));
      source_.Push(Wire(absl::Microseconds(20 << (i % 10))), ReplyPacket(sender_.sent[i]));
    }
    k = sender_.sent.size();
    prober_->DrainCaptures();
    Step(absl::Milliseconds(10));
  }
  EXPECT_EQ(sender_.sent.size(), 30'000u);
  const size_t bytes = prober_->BytesPerTarget();
  RecordProperty("bytes_per_target", static_cast<int>(bytes));
  EXPECT_LE(bytes, 1024u);
  // The in-flight rings (100 ms interval, 5 s memory): 64 slots of 8 bytes.
  EXPECT_EQ(prober_->Memory().in_flight, 10'000u * 64u * 8u);
}

// The budget at the benchmark's highest rungs, with everything counted: the
// configuration PingSession uses (500 ms timeout, resolved probes remembered
// for 1.1 s) at 10,000 targets offered 100,000, 150,000 and 200,000
// probes/s (the benchmark's rungs around its highest loss-free rate), every
// probe answered, run long enough (1.5 s) for the send log to hold its full
// 1.1 s. The
// prober's own accounting (capacities) and, outside sanitizers, the heap's
// growth as glibc sees it (allocator headers included) must both stay
// within 1 KiB per target.
TEST_F(ActiveProberTest, MemoryPerTargetWithInFlightStaysUnderOneKibibyteAtBenchRates) {
  constexpr int kTargets = 10'000;
  for (const double rate : {100'000.0, 150'000.0, 200'000.0}) {
    SCOPED_TRACE(rate);
    prober_.reset();
    sender_.sent.clear();
    std::vector<SentProbe>().swap(sender_.sent);
    PingOptions ping;
    ping.count = static_cast<int>(rate * 1.5 / kTargets);
    ping.interval = absl::Microseconds(static_cast<int64_t>(kTargets * 1e6 / rate));
    ping.timeout = absl::Milliseconds(500);
    ping.max_pps = rate * 1.05;
    ActiveProber::Options options = PingSession::ProberOptions(ping);
    options.seed = 42;
    options.local_clock_synchronized = true;
    ASSERT_EQ(options.memory, absl::Milliseconds(1100));
#ifndef __SANITIZE_ADDRESS__
    const struct mallinfo2 heap_before = mallinfo2();
#endif
    loop_ = *EventLoop::Create();
    prober_ =
        *ActiveProber::Create(options, loop_.get(), &clock_, &sender_, ProbeSecret::FromKey(5, 6));
    ASSERT_TRUE(prober_->AddSource(&source_, IpPacketFromCapture).ok());
    prober_->ReserveTargets(kTargets);
    for (int i = 0; i < kTargets; ++i) {
      const uint8_t b[4] = {198, 18, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
      ASSERT_TRUE(prober_->AddTarget({IpAddress::V4Bytes(b), {}}).ok());
    }
    ASSERT_TRUE(prober_->Start().ok());
    // Every probe is captured and answered 5..45 µs later, 1 ms steps.
    uint64_t sent = 0;
    for (int step = 0; step < 5000 && !prober_->Finished(); ++step) {
      for (size_t i = 0; i < sender_.sent.size(); ++i) {
        source_.Push(Wire(), RequestPacket(sender_.sent[i]));
        source_.Push(Wire(absl::Microseconds(5 + static_cast<int64_t>(i % 41))),
                     ReplyPacket(sender_.sent[i]));
      }
      sent += sender_.sent.size();
      std::vector<SentProbe>().swap(sender_.sent);
      prober_->DrainCaptures();
      Step(absl::Milliseconds(1));
    }
    ASSERT_TRUE(prober_->Finished());
    EXPECT_EQ(sent, static_cast<uint64_t>(kTargets) * static_cast<uint64_t>(ping.count));
    EXPECT_EQ(prober_->counters().evicted, 0u);
    const ActiveProber::MemoryUsage m = prober_->Memory();
    const size_t bytes = prober_->BytesPerTarget();
    RecordProperty(absl::StrCat("bytes_per_target_", rate / 1000, "k"), static_cast<int>(bytes));
    EXPECT_EQ(bytes, m.total() / kTargets);
    EXPECT_LE(bytes, 1024u) << "tables " << m.tables / kTargets << ", statistics "
                            << m.statistics / kTargets << ", in-flight " << m.in_flight / kTargets
                            << ", send log " << m.send_log / kTargets;
    // The send log held 1.1 s of probes at the offered rate, 8 bytes each.
    EXPECT_GE(m.send_log, static_cast<size_t>(rate * 1.1 * 0.95) * 8);
#ifndef __SANITIZE_ADDRESS__
    const struct mallinfo2 heap_after = mallinfo2();
    // Small blocks (uordblks) and mmapped large ones (hblkhd).
    const size_t heap_growth =
        heap_after.uordblks + heap_after.hblkhd - heap_before.uordblks - heap_before.hblkhd;
    RecordProperty(absl::StrCat("heap_bytes_per_target_", rate / 1000, "k"),
                   static_cast<int>(heap_growth / kTargets));
    EXPECT_LE(heap_growth / kTargets, 1024u);
#endif
    // Still exact: every probe received once.
    uint64_t received = 0;
    for (const FlowReport& r : prober_->TakeWindow()) received += r.received;
    EXPECT_EQ(received, sent);
  }
}

}  // namespace
}  // namespace vantage::probe
