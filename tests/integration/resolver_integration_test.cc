// DnsProber against real nsd and unbound on loopback (started and killed by
// the test), a UDP socket that never answers, and an in-test server that
// sends hostile answers.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "resolver/dns_probe_scheduler.h"
#include "resolver/dns_prober.h"
#include "resolver/posix_dns_transport.h"
#include "tests/integration/dns_test_servers.h"
#include "tests/resolver/dns_test_util.h"

namespace vantage::resolver {
namespace {

using vantage::testing::DnsServerProcess;

class ResolverIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto nsd = DnsServerProcess::StartNsd("vt-pop-a", "pop-a.example");
    ASSERT_TRUE(nsd.ok()) << nsd.status();
    nsd_ = nsd->release();
    auto unbound = DnsServerProcess::StartUnbound(nsd_->endpoint(), "vt-rec-a", "rec-a.example");
    ASSERT_TRUE(unbound.ok()) << unbound.status();
    unbound_ = unbound->release();
  }
  static void TearDownTestSuite() {
    delete unbound_;
    unbound_ = nullptr;
    delete nsd_;
    nsd_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(nsd_, nullptr);
    ASSERT_NE(unbound_, nullptr);
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok());
    loop_ = *std::move(loop);
    MakeProber({});
  }

  void MakeProber(DnsProberOptions options) {
    prober_.reset();
    if (options.timeout == absl::Seconds(2)) options.timeout = absl::Seconds(3);
    auto prober = DnsProber::Create(loop_.get(), &transport_, options);
    ASSERT_TRUE(prober.ok()) << prober.status();
    prober_ = *std::move(prober);
  }

  DnsQueryResult RunOne(const Endpoint& server, const DnsQuestion& q) {
    DnsQueryResult out;
    bool done = false;
    auto seq = prober_->Query(server, q, [&](const DnsQueryResult& r) {
      out = r;
      done = true;
    });
    EXPECT_TRUE(seq.ok()) << seq.status();
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!done && absl::Now() < deadline) loop_->RunOnce(absl::Milliseconds(50));
    EXPECT_TRUE(done);
    return out;
  }

  static DnsServerProcess* nsd_;
  static DnsServerProcess* unbound_;
  PosixDnsTransport transport_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<DnsProber> prober_;
};

DnsServerProcess* ResolverIntegrationTest::nsd_ = nullptr;
DnsServerProcess* ResolverIntegrationTest::unbound_ = nullptr;

TEST_F(ResolverIntegrationTest, NsdNoErrorWithNsidAndKernelTimestamps) {
  const DnsQueryResult r = RunOne(nsd_->endpoint(), {"www.example.test", kTypeA, kClassIn});
  EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer);
  EXPECT_EQ(r.rcode, kRcodeNoError);
  EXPECT_EQ(r.answer_count, 1);
  ASSERT_TRUE(r.nsid.has_value());
  EXPECT_EQ(*r.nsid, "vt-pop-a");
  EXPECT_EQ(r.Catchment(), "vt-pop-a");
  EXPECT_TRUE(r.udp.kernel_timestamp);
  EXPECT_GT(r.udp.time, absl::ZeroDuration());
  EXPECT_LT(r.udp.time, absl::Milliseconds(100));
  EXPECT_EQ(r.answered_over, DnsTransportKind::kUdp);
}

TEST_F(ResolverIntegrationTest, NsdHostnameBindAndIdServer) {
  for (const char* name : {"hostname.bind", "id.server"}) {
    const DnsQueryResult r = RunOne(nsd_->endpoint(), {name, kTypeTxt, kClassChaos});
    EXPECT_EQ(r.rcode, kRcodeNoError) << name;
    ASSERT_TRUE(r.chaos_txt.has_value()) << name;
    EXPECT_EQ(*r.chaos_txt, "pop-a.example");
    // NSID wins as the catchment name when both are there.
    EXPECT_EQ(r.Catchment(), "vt-pop-a");
  }
}

TEST_F(ResolverIntegrationTest, NsdNxDomainAndRefused) {
  EXPECT_EQ(RunOne(nsd_->endpoint(), {"nope.example.test", kTypeA, kClassIn}).rcode,
            kRcodeNxDomain);
  const DnsQueryResult refused = RunOne(nsd_->endpoint(), {"www.other.zone", kTypeA, kClassIn});
  EXPECT_EQ(refused.outcome(), DnsOutcome::kAnswer);
  EXPECT_EQ(refused.rcode, kRcodeRefused);
}

TEST_F(ResolverIntegrationTest, UnboundNoErrorNxDomainServFail) {
  const DnsQueryResult ok = RunOne(unbound_->endpoint(), {"www.example.test", kTypeA, kClassIn});
  EXPECT_EQ(ok.rcode, kRcodeNoError);
  EXPECT_EQ(ok.answer_count, 1);
  ASSERT_TRUE(ok.nsid.has_value());
  EXPECT_EQ(*ok.nsid, "vt-rec-a");
  EXPECT_EQ(RunOne(unbound_->endpoint(), {"nope.example.test", kTypeA, kClassIn}).rcode,
            kRcodeNxDomain);
  // unbound's upstream for servfail.test refuses: unbound says SERVFAIL.
  const DnsQueryResult fail = RunOne(unbound_->endpoint(), {"x.servfail.test", kTypeA, kClassIn});
  EXPECT_EQ(fail.outcome(), DnsOutcome::kAnswer);
  EXPECT_EQ(fail.rcode, kRcodeServFail);
  const DnsQueryResult chaos = RunOne(unbound_->endpoint(), {"id.server", kTypeTxt, kClassChaos});
  ASSERT_TRUE(chaos.chaos_txt.has_value());
  EXPECT_EQ(*chaos.chaos_txt, "rec-a.example");
}

TEST_F(ResolverIntegrationTest, TruncationForcesTcpTimedSeparately) {
  const DnsQueryResult r = RunOne(nsd_->endpoint(), {"big.example.test", kTypeTxt, kClassIn});
  EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer);
  EXPECT_TRUE(r.truncated);
  ASSERT_TRUE(r.tcp.has_value());
  EXPECT_EQ(r.tcp->outcome, DnsOutcome::kAnswer) << r.tcp->error;
  EXPECT_GT(r.tcp->time, absl::ZeroDuration());
  EXPECT_LT(r.tcp->time, absl::Milliseconds(500));
  EXPECT_GE(r.tcp->sent_at, r.udp.sent_at + r.udp.time);
  EXPECT_EQ(r.answered_over, DnsTransportKind::kTcp);
  EXPECT_EQ(r.answer_count, 40);
  EXPECT_GT(r.response_size, 4000u);
  ASSERT_TRUE(r.nsid.has_value());
  EXPECT_EQ(*r.nsid, "vt-pop-a");
  EXPECT_EQ(prober_->hostile().total(), 0u);

  // With a big enough buffer the same answer comes over UDP.
  DnsProberOptions big;
  big.query.edns_buffer_size = 8192;
  MakeProber(big);
  const DnsQueryResult u = RunOne(nsd_->endpoint(), {"big.example.test", kTypeTxt, kClassIn});
  EXPECT_FALSE(u.truncated);
  EXPECT_FALSE(u.tcp.has_value());
  EXPECT_EQ(u.answered_over, DnsTransportKind::kUdp);
  EXPECT_EQ(u.answer_count, 40);
}

TEST_F(ResolverIntegrationTest, SilentSocketTimesOut) {
  const int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(getsockname(silent, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  DnsProberOptions o;
  o.timeout = absl::Milliseconds(150);
  MakeProber(o);
  const absl::Time start = absl::Now();
  const DnsQueryResult r =
      RunOne(Endpoint(IpAddress::V4(0x7f000001), ntohs(sa.sin_port)), {"a.test", kTypeA, kClassIn});
  const absl::Duration took = absl::Now() - start;
  close(silent);
  EXPECT_EQ(r.outcome(), DnsOutcome::kTimeout);
  EXPECT_FALSE(r.answered());
  EXPECT_GE(took, absl::Milliseconds(145));
  EXPECT_LT(took, absl::Milliseconds(400));
}

TEST_F(ResolverIntegrationTest, ClosedPortIsAnError) {
  auto port = vantage::testing::FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  const DnsQueryResult r =
      RunOne(Endpoint(IpAddress::V4(0x7f000001), *port), {"a.test", kTypeA, kClassIn});
  EXPECT_EQ(r.outcome(), DnsOutcome::kError);
  EXPECT_FALSE(r.udp.error.empty());
}

// A UDP server in a thread that answers each query with hostile datagrams
// first, then the real answer.
TEST_F(ResolverIntegrationTest, HostileServerAnswersAreCountedByKind) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  timeval tv{0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::atomic<bool> stop{false};
  std::thread server([&] {
    while (!stop) {
      uint8_t buf[1500];
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      const ssize_t n =
          recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n <= 0) continue;
      const std::vector<uint8_t> q(buf, buf + n);
      vantage::resolver::testing::FakeAnswer a;
      a.a_records = {{198, 18, 0, 7}};
      a.nsid = "honest";
      const std::vector<uint8_t> ok = vantage::resolver::testing::MakeAnswer(q, a);
      std::vector<uint8_t> wrong_id = ok;
      wrong_id[0] ^= 0x80;
      std::vector<uint8_t> wrong_question = ok;
      wrong_question[13] ^= 0x01;
      const std::vector<uint8_t> garbage = {0xde, 0xad, 0xbe, 0xef};
      const std::vector<uint8_t> cut(ok.begin(), ok.end() - 5);
      vantage::resolver::testing::FakeAnswer huge = a;
      huge.padding = 3000;
      const std::vector<uint8_t> oversized = vantage::resolver::testing::MakeAnswer(q, huge);
      const std::vector<const std::vector<uint8_t>*> all = {&wrong_id, &wrong_question, &garbage,
                                                            &cut,      &oversized,      &ok};
      for (const auto* d : all) {
        sendto(fd, d->data(), d->size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
      }
    }
  });
  const DnsQueryResult r = RunOne(Endpoint(IpAddress::V4(0x7f000001), ntohs(sa.sin_port)),
                                  {"www.x.test", kTypeA, kClassIn});
  stop = true;
  server.join();
  close(fd);
  EXPECT_EQ(r.outcome(), DnsOutcome::kAnswer);
  ASSERT_TRUE(r.nsid.has_value());
  EXPECT_EQ(*r.nsid, "honest");
  const DnsHostileCounts& h = prober_->hostile();
  EXPECT_EQ(h.wrong_id, 1u);
  EXPECT_EQ(h.wrong_question, 1u);
  EXPECT_EQ(h.garbage, 1u);
  EXPECT_EQ(h.truncated, 1u);
  EXPECT_EQ(h.oversized, 1u);
}

TEST_F(ResolverIntegrationTest, ManyQueriesAllTimedWithSaneMedian) {
  std::vector<double> times;
  int done = 0;
  constexpr int kQueries = 200;
  for (int i = 0; i < kQueries; ++i) {
    ASSERT_TRUE(prober_
                    ->Query(nsd_->endpoint(), {"www.example.test", kTypeA, kClassIn},
                            [&](const DnsQueryResult& r) {
                              ++done;
                              if (r.outcome() == DnsOutcome::kAnswer) times.push_back(r.time_us());
                            })
                    .ok());
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (done < kQueries && absl::Now() < deadline) loop_->RunOnce(absl::Milliseconds(50));
  ASSERT_EQ(done, kQueries);
  EXPECT_EQ(times.size(), static_cast<size_t>(kQueries));
  std::sort(times.begin(), times.end());
  EXPECT_GT(times.front(), 0.0);
  EXPECT_LT(times[times.size() / 2], 50'000.0);
}

TEST_F(ResolverIntegrationTest, SchedulerWindowsCarryCatchments) {
  DnsProbeConfig config;
  config.servers = {nsd_->endpoint(), unbound_->endpoint()};
  config.names = {"www.example.test"};
  config.types = {kTypeA, kTypeAaaa};
  config.interval = absl::Milliseconds(20);
  config.jitter = absl::Milliseconds(5);
  config.timeout = absl::Seconds(1);
  config.window = absl::Milliseconds(300);
  config.chaos = true;
  MakeProber(config.ProberOptions());
  std::vector<DnsWindowStats> window;
  DnsProbeScheduler scheduler(loop_.get(), prober_.get(), &RealClock::Get(), config,
                              [&](std::vector<DnsWindowStats> w) {
                                if (window.empty()) window = std::move(w);
                              });
  ASSERT_TRUE(scheduler.Start().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (window.empty() && absl::Now() < deadline) loop_->RunOnce(absl::Milliseconds(50));
  scheduler.Stop();
  // 2 servers x (A, AAAA, CHAOS) series.
  ASSERT_EQ(window.size(), 6u);
  for (const DnsWindowStats& s : window) {
    EXPECT_GE(s.sent, 5u) << s.key.qname;
    EXPECT_EQ(s.timeouts, 0u);
    const bool is_nsd = s.key.server == nsd_->endpoint();
    const std::string want = is_nsd ? "vt-pop-a" : "vt-rec-a";
    EXPECT_THAT(s.catchments, ::testing::ElementsAre(::testing::Pair(want, s.answered)))
        << s.key.qname;
    EXPECT_TRUE(s.flips.empty());
  }
}

TEST_F(ResolverIntegrationTest, VantagectlDnsJson) {
  const std::string cmd =
      absl::StrCat(VANTAGECTL_PATH, " dns --server ", nsd_->endpoint().ToString(),
                   " --name www.example.test --count 3 --interval 10 "
                   "--nsid --chaos --json");
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << out;
  const auto j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << out;
  ASSERT_EQ(j["queries"].size(), 3u);
  for (const auto& q : j["queries"]) {
    EXPECT_EQ(q["rcode"], "NOERROR");
    EXPECT_EQ(q["nsid"], "vt-pop-a");
    EXPECT_EQ(q["chaos"], "pop-a.example");
    EXPECT_GT(q["time_us"].get<double>(), 0.0);
  }
  EXPECT_EQ(j["summary"]["sent"], 3);
  EXPECT_EQ(j["summary"]["answered"], 3);
  EXPECT_EQ(j["summary"]["loss"], 0.0);
  EXPECT_EQ(j["summary"]["catchments"]["vt-pop-a"], 3);
  EXPECT_LE(j["summary"]["min_us"].get<double>(), j["summary"]["p50_us"].get<double>());
  EXPECT_LE(j["summary"]["p50_us"].get<double>(), j["summary"]["max_us"].get<double>());
}

}  // namespace
}  // namespace vantage::resolver
