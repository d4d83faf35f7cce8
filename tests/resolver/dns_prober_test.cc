// DnsProber against FakeDnsTransport: c-ares is real, the network is not.
#include "resolver/dns_prober.h"

#include <memory>
#include <set>
#include <vector>

#include "core/event_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "resolver/dns_response.h"
#include "tests/resolver/dns_test_util.h"
#include "tests/resolver/fake_dns_transport.h"

namespace vantage::resolver {
namespace {

using testing::FakeAnswer;
using testing::FakeDatagram;
using testing::FakeDnsTransport;
using testing::MakeAnswer;

const Endpoint kServer(*IpAddress::Parse("127.0.0.1"), 5300);
const DnsQuestion kWww{"www.example.test", kTypeA, kClassIn};

class DnsProberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = *std::move(loop);
  }

  void MakeProber(FakeDnsTransport::Responder responder, DnsProberOptions options = {}) {
    transport_ = std::make_unique<FakeDnsTransport>(std::move(responder));
    auto prober = DnsProber::Create(loop_.get(), transport_.get(), options);
    ASSERT_TRUE(prober.ok()) << prober.status();
    prober_ = *std::move(prober);
  }

  // Runs one query to completion (bounded: 5 s).
  DnsQueryResult RunOne(const DnsQuestion& q = kWww) {
    DnsQueryResult out;
    bool done = false;
    auto seq = prober_->Query(kServer, q, [&](const DnsQueryResult& r) {
      out = r;
      done = true;
    });
    EXPECT_TRUE(seq.ok()) << seq.status();
    RunUntil([&] { return done; });
    EXPECT_TRUE(done);
    return out;
  }

  template <typename Pred>
  void RunUntil(Pred pred) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!pred() && absl::Now() < deadline) loop_->RunOnce(absl::Milliseconds(50));
  }

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<FakeDnsTransport> transport_;
  std::unique_ptr<DnsProber> prober_;
};

TEST_F(DnsProberTest, TimesAnswerAtTheSocketAndReadsNsid) {
  std::vector<uint8_t> seen_query;
  MakeProber([&](absl::Span<const uint8_t> q) {
    seen_query.assign(q.begin(), q.end());
    FakeAnswer a;
    a.a_records = {{198, 18, 0, 1}};
    a.nsid = "pop-fra-1";
    return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(1234)}};
  });
  const DnsQueryResult r = RunOne();
  EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer);
  EXPECT_EQ(r.udp.time, absl::Microseconds(1234));
  EXPECT_DOUBLE_EQ(r.time_us(), 1234.0);
  EXPECT_TRUE(r.udp.kernel_timestamp);
  EXPECT_EQ(r.rcode, kRcodeNoError);
  EXPECT_EQ(r.answer_count, 1);
  EXPECT_EQ(r.answered_over, DnsTransportKind::kUdp);
  ASSERT_TRUE(r.nsid.has_value());
  EXPECT_EQ(*r.nsid, "pop-fra-1");
  EXPECT_EQ(r.Catchment(), "pop-fra-1");
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.tcp.has_value());
  EXPECT_EQ(r.question, kWww);
  // The query on the wire is ours: our ID, one OPT RR with an NSID request.
  ASSERT_GE(seen_query.size(), 12u);
  EXPECT_EQ((seen_query[0] << 8) | seen_query[1], r.id);
  EXPECT_EQ(seen_query[11], 1);
  EXPECT_EQ(transport_->queries_seen(), 1);
  EXPECT_EQ(prober_->in_flight(), 0u);
  EXPECT_EQ(prober_->hostile().total(), 0u);
}

TEST_F(DnsProberTest, ErrorRcodesAreAnswersAndNotRetried) {
  uint8_t rcode = 0;
  MakeProber([&](absl::Span<const uint8_t> q) {
    FakeAnswer a;
    a.rcode = rcode;
    return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(50)}};
  });
  for (uint8_t code : {kRcodeNxDomain, kRcodeServFail, kRcodeRefused, kRcodeNotImp}) {
    rcode = code;
    const int before = transport_->queries_seen();
    const DnsQueryResult r = RunOne();
    EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer) << DnsRcodeName(code);
    EXPECT_EQ(r.rcode, code);
    // One query, one measurement: c-ares did not try again elsewhere.
    EXPECT_EQ(transport_->queries_seen(), before + 1);
  }
}

TEST_F(DnsProberTest, NoAnswerTimesOut) {
  DnsProberOptions options;
  options.timeout = absl::Milliseconds(40);
  MakeProber([](absl::Span<const uint8_t>) { return std::vector<FakeDatagram>{}; }, options);
  const absl::Time start = absl::Now();
  const DnsQueryResult r = RunOne();
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.outcome(), DnsOutcome::kTimeout);
  EXPECT_FALSE(r.answered());
  EXPECT_EQ(r.rcode, -1);
  EXPECT_GE(took, absl::Milliseconds(35));
  EXPECT_LT(took, absl::Milliseconds(1000));
  EXPECT_EQ(transport_->queries_seen(), 1);  // tries=1
  EXPECT_EQ(prober_->in_flight(), 0u);
}

TEST_F(DnsProberTest, HostileAnswersAreDroppedAndCountedByKind) {
  MakeProber([](absl::Span<const uint8_t> q) {
    FakeAnswer good;
    good.a_records = {{198, 18, 0, 1}};
    good.nsid = "real";
    std::vector<uint8_t> ok = MakeAnswer(q, good);

    std::vector<uint8_t> wrong_id = ok;
    wrong_id[1] ^= 0x5a;
    std::vector<uint8_t> wrong_question = ok;
    wrong_question[13] ^= 0x01;  // first letter of the name: 'w' -> 'v'
    std::vector<uint8_t> garbage(ok.begin(), ok.begin() + 14);
    garbage[2] = 0x80;
    garbage[12] = 0xc0;  // a dangling compression pointer in the question
    garbage[13] = 0xff;
    std::vector<uint8_t> cut(ok.begin(), ok.end() - 7);
    FakeAnswer big = good;
    big.nsid = "spoof";
    big.padding = 2000;  // larger than the 1232 we advertise
    std::vector<FakeDatagram> out;
    for (auto* d : {&wrong_id, &wrong_question, &garbage, &cut}) {
      out.push_back({*d, absl::Microseconds(100)});
    }
    out.push_back({MakeAnswer(q, big), absl::Microseconds(150)});
    out.push_back({ok, absl::Microseconds(400)});
    return out;
  });
  const DnsQueryResult r = RunOne();
  EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer);
  EXPECT_EQ(r.udp.time, absl::Microseconds(400));
  EXPECT_EQ(*r.nsid, "real");
  const DnsHostileCounts& h = prober_->hostile();
  EXPECT_EQ(h.wrong_id, 1u);
  EXPECT_EQ(h.wrong_question, 1u);
  EXPECT_EQ(h.garbage, 1u);
  EXPECT_EQ(h.truncated, 1u);
  EXPECT_EQ(h.oversized, 1u);
}

TEST_F(DnsProberTest, OnlyHostileAnswersMeanTimeout) {
  DnsProberOptions options;
  options.timeout = absl::Milliseconds(40);
  MakeProber(
      [](absl::Span<const uint8_t> q) {
        std::vector<uint8_t> spoof = MakeAnswer(q, FakeAnswer{});
        spoof[0] ^= 0xff;
        return std::vector<FakeDatagram>{{spoof, absl::Microseconds(10)}};
      },
      options);
  const DnsQueryResult r = RunOne();
  EXPECT_EQ(r.outcome(), DnsOutcome::kTimeout);
  EXPECT_EQ(prober_->hostile().wrong_id, 1u);
}

TEST_F(DnsProberTest, WithoutEdnsAnswersOver512AreOversized) {
  DnsProberOptions options;
  options.timeout = absl::Milliseconds(40);
  options.query.edns = false;
  options.query.nsid = false;
  MakeProber(
      [](absl::Span<const uint8_t> q) {
        EXPECT_EQ(q[11], 0);  // no OPT RR
        FakeAnswer a;
        a.opt = false;
        a.padding = 600;
        return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(10)}};
      },
      options);
  const DnsQueryResult r = RunOne();
  EXPECT_EQ(r.outcome(), DnsOutcome::kTimeout);
  EXPECT_EQ(prober_->hostile().oversized, 1u);
}

TEST_F(DnsProberTest, TruncationTriggersTcpRetry) {
  MakeProber([](absl::Span<const uint8_t> q) {
    FakeAnswer a;
    a.tc = true;
    return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(70)}};
  });
  const DnsQueryResult r = RunOne();
  EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer);
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.udp.time, absl::Microseconds(70));
  // The fake has no TCP: the retry is attempted and fails, separately.
  ASSERT_TRUE(r.tcp.has_value());
  EXPECT_EQ(r.tcp->outcome, DnsOutcome::kError);
  EXPECT_EQ(r.answered_over, DnsTransportKind::kUdp);
}

TEST_F(DnsProberTest, TruncationWithoutTcpRetryWhenDisabled) {
  DnsProberOptions options;
  options.tcp_on_truncation = false;
  MakeProber(
      [](absl::Span<const uint8_t> q) {
        FakeAnswer a;
        a.tc = true;
        return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(70)}};
      },
      options);
  const DnsQueryResult r = RunOne();
  EXPECT_TRUE(r.truncated);
  EXPECT_FALSE(r.tcp.has_value());
}

TEST_F(DnsProberTest, ChaosTxtNamesTheInstance) {
  MakeProber([](absl::Span<const uint8_t> q) {
    FakeAnswer a;
    a.txt = std::vector<std::string>{"ams-2"};
    return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(20)}};
  });
  const DnsQueryResult r = RunOne(DnsQuestion{"hostname.bind", kTypeTxt, kClassChaos});
  ASSERT_TRUE(r.chaos_txt.has_value());
  EXPECT_EQ(*r.chaos_txt, "ams-2");
  EXPECT_EQ(r.Catchment(), "ams-2");
}

TEST_F(DnsProberTest, ManyQueriesInFlightGetDistinctIdsAndAllComplete) {
  MakeProber([](absl::Span<const uint8_t> q) {
    FakeAnswer a;
    a.a_records = {{1, 2, 3, 4}};
    return std::vector<FakeDatagram>{{MakeAnswer(q, a), absl::Microseconds(5)}};
  });
  std::set<uint16_t> ids;
  std::set<uint64_t> seqs;
  int answered = 0;
  constexpr int kQueries = 2000;
  for (int i = 0; i < kQueries; ++i) {
    auto seq = prober_->Query(kServer, kWww, [&](const DnsQueryResult& r) {
      ids.insert(r.id);
      seqs.insert(r.seq);
      if (r.outcome() == DnsOutcome::kAnswer) ++answered;
    });
    ASSERT_TRUE(seq.ok());
  }
  RunUntil([&] { return static_cast<int>(seqs.size()) == kQueries; });
  EXPECT_EQ(answered, kQueries);
  EXPECT_EQ(prober_->in_flight(), 0u);
  EXPECT_GT(ids.size(), 1000u);  // IDs are random, unique while in flight
  EXPECT_EQ(prober_->hostile().total(), 0u);
}

TEST_F(DnsProberTest, RejectsBadInput) {
  MakeProber([](absl::Span<const uint8_t>) { return std::vector<FakeDatagram>{}; });
  EXPECT_FALSE(prober_->Query(kServer, DnsQuestion{"a..b", kTypeA, kClassIn}, nullptr).ok());
  DnsProberOptions bad;
  bad.timeout = absl::ZeroDuration();
  EXPECT_FALSE(DnsProber::Create(loop_.get(), transport_.get(), bad).ok());
  bad = {};
  bad.query.edns_buffer_size = 100;
  EXPECT_FALSE(DnsProber::Create(loop_.get(), transport_.get(), bad).ok());
}

TEST_F(DnsProberTest, DestroyingWithQueriesInFlightIsClean) {
  MakeProber([](absl::Span<const uint8_t>) { return std::vector<FakeDatagram>{}; });
  bool called = false;
  ASSERT_TRUE(prober_->Query(kServer, kWww, [&](const DnsQueryResult&) { called = true; }).ok());
  loop_->RunOnce(absl::Milliseconds(1));
  prober_.reset();
  EXPECT_FALSE(called);
  EXPECT_EQ(loop_->watched_fds(), 0u);
  EXPECT_EQ(transport_->sockets_open(), 0);
}

}  // namespace
}  // namespace vantage::resolver
