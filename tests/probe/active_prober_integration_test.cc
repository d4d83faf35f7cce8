// The active prober end to end: real raw sockets, a live capture, the kernel
// answering, our STAMP reflector, on loopback and across a veth pair between
// two network namespaces the test creates (and always deletes).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/event_loop.h"
#include "probe/ping_session.h"
#include "probe/stamp_reflector.h"

namespace vantage::probe {
namespace {

IpAddress Ip(const char* s) { return *IpAddress::Parse(s); }
ProbeMethodSpec Method(const std::string& s) { return *ProbeMethodSpec::Parse(s); }

bool HaveNetRaw() {
  const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// Runs `fn` on a thread that has entered network namespace `ns` (empty: stay).
template <typename F>
void InNamespace(const std::string& ns, F fn) {
  std::thread t([&] {
    if (!ns.empty()) {
      const int fd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0) << ns;
      ASSERT_EQ(setns(fd, CLONE_NEWNET), 0) << std::strerror(errno);
      close(fd);
    }
    fn();
  });
  t.join();
}

// A STAMP reflector on its own loop and thread (inside `ns` if given).
class ReflectorThread {
 public:
  explicit ReflectorThread(const std::string& ns, uint16_t port = 0) {
    std::atomic<bool> ready{false};
    thread_ = std::thread([this, ns, port, &ready] {
      if (!ns.empty()) {
        const int fd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) std::abort();
        close(fd);
      }
      auto loop = *EventLoop::Create();
      StampReflector::Options o;
      o.port = port;
      o.synchronized = true;
      auto r = StampReflector::Create(o, loop.get());
      if (!r.ok()) std::abort();
      port_ = (*r)->port();
      ready = true;
      while (!stop_) loop->RunOnce(absl::Milliseconds(20));
      reflected_ = (*r)->counters().reflected;
    });
    while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~ReflectorThread() { Join(); }
  uint64_t Join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return reflected_;
  }
  uint16_t port() const { return port_; }

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint16_t> port_{0};
  std::atomic<uint64_t> reflected_{0};
};

PingOptions Quick(std::vector<ProbeTarget> targets, int count = 5) {
  PingOptions o;
  o.targets = std::move(targets);
  o.count = count;
  o.interval = absl::Milliseconds(20);
  o.timeout = absl::Milliseconds(500);
  o.flows = 2;
  o.clock_synchronized = true;
  return o;
}

void ExpectAllAnswered(const PingResult& result, int count) {
  for (const auto& t : result.targets) {
    SCOPED_TRACE(absl::StrCat(t.target.address.ToString(), " ", t.target.spec.ToString()));
    EXPECT_EQ(t.merged.sent, static_cast<uint64_t>(count));
    EXPECT_EQ(t.merged.received, static_cast<uint64_t>(count));
    EXPECT_EQ(t.merged.lost, 0u);
    EXPECT_EQ(t.merged.no_request_timestamp, 0u);
    ASSERT_EQ(t.merged.rtt_us.count(), static_cast<uint64_t>(count));
    ASSERT_TRUE(t.merged.min_rtt.has_value());
    EXPECT_GT(*t.merged.min_rtt, absl::ZeroDuration());
    EXPECT_LT(t.merged.rtt_us.max(), 500'000);  // µs: within the timeout (busy CI hosts)
  }
}

// A non-blocking TCP listener on an ephemeral port of `address`; -1 on failure.
int Listen(const IpAddress& address, uint16_t* port) {
  const int fd = socket(address.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_storage ss{};
  socklen_t len = Endpoint(address, 0).ToSockaddr(&ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    close(fd);
    return -1;
  }
  *port = (*Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss))).port();
  return fd;
}

class LoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveNetRaw()) GTEST_SKIP() << "needs CAP_NET_RAW";
  }
};

TEST_F(LoopbackTest, AllMethodsAndFamiliesAreMatched) {
  ReflectorThread reflector("");
  const std::string stamp = absl::StrCat("stamp:", reflector.port());
  std::vector<ProbeTarget> targets;
  for (const char* a : {"127.0.0.1", "::1"}) {
    targets.push_back({Ip(a), Method("icmp")});
    targets.push_back({Ip(a), Method("tcp:9")});  // closed: RST-ACK answers
    targets.push_back({Ip(a), Method(stamp)});
  }
  auto result = PingSession::Run(Quick(targets));
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectAllAnswered(*result, 5);
  EXPECT_EQ(result->counters.forged, 0u);
  EXPECT_EQ(reflector.Join(), 10u);
  for (const auto& t : result->targets) {
    if (t.target.spec.method != ProbeMethod::kStamp) continue;
    EXPECT_EQ(t.merged.reflector_us.count(), 5u);
    EXPECT_GE(t.merged.reflector_us.min(), 0);
    // Same clock on both ends: the one-way delays add up to the RTT.
    ASSERT_EQ(t.merged.forward_us.count(), 5u);
    EXPECT_GE(t.merged.forward_us.min(), -1);
    EXPECT_LE(t.merged.forward_us.max() + t.merged.backward_us.min(), t.merged.rtt_us.max() + 5);
  }
}

TEST_F(LoopbackTest, SynAckIsResetWithoutAFullConnection) {
  for (const char* a : {"127.0.0.1", "::1"}) {
    const IpAddress address = Ip(a);
    uint16_t port = 0;
    const int fd = Listen(address, &port);
    ASSERT_GE(fd, 0);
    auto result = PingSession::Run(Quick({{address, Method(absl::StrCat("tcp:", port))}}));
    ASSERT_TRUE(result.ok()) << result.status();
    ExpectAllAnswered(*result, 5);
    // The SYN-ACKs were reset: nothing ever completed the handshake.
    EXPECT_LT(accept(fd, nullptr, nullptr), 0);
    EXPECT_EQ(errno, EAGAIN);
    close(fd);
  }
}

// Bursts of SYNs to one listener, all sent before the first SYN-ACK comes
// back (faster than the RTT): on a single 5-tuple the listener's kernel takes
// every SYN after the first for a retransmission of the half-open connection
// and drops it. Each pending SYN must leave from its own pool port.
TEST_F(LoopbackTest, TcpBurstsFasterThanTheRttAreAllAnswered) {
  for (const char* a : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(a);
    const IpAddress address = Ip(a);
    uint16_t port = 0;
    const int fd = Listen(address, &port);
    ASSERT_GE(fd, 0);
    PingOptions o = Quick({{address, Method(absl::StrCat("tcp:", port))}});
    o.flows = 1;
    o.burst = 8;
    auto result = PingSession::Run(o);
    ASSERT_TRUE(result.ok()) << result.status();
    ExpectAllAnswered(*result, 5 * 8);
    EXPECT_EQ(result->counters.tcp_ports_exhausted, 0u);
    EXPECT_EQ(result->counters.send_errors, 0u);
    EXPECT_LT(accept(fd, nullptr, nullptr), 0);  // never a full connection
    close(fd);
  }
}

// Sends forged replies (right addresses, ports and ICMP id; no secret) from
// the session's start hook; they must be counted as forged, never matched.
TEST_F(LoopbackTest, ForgedRepliesAreRejectedAndCounted) {
  ReflectorThread reflector("");
  const uint16_t stamp_port = reflector.port();
  std::vector<ProbeTarget> targets = {
      {Ip("127.0.0.1"), Method("icmp")},
      {Ip("127.0.0.1"), Method("tcp:9")},
      {Ip("127.0.0.1"), Method(absl::StrCat("stamp:", stamp_port))}};
  PingOptions options = Quick(targets, 5);
  int injected = 0;
  options.on_start = [&](const ActiveProber& prober) {
    const ProbeCodec& codec = prober.codec();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // ICMP echo replies with our id, a plausible payload and a wrong MAC.
    const int icmp = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const int tcp = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
    const int udp = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    ASSERT_TRUE(icmp >= 0 && tcp >= 0 && udp >= 0);
    for (uint16_t seq = 0; seq < 3; ++seq) {
      for (uint8_t flow = 0; flow < 2; ++flow) {
        uint8_t echo[32] = {0, 0, 0, 0};
        const uint16_t id = codec.IcmpId(0, flow);
        echo[4] = static_cast<uint8_t>(id >> 8);
        echo[5] = static_cast<uint8_t>(id);
        echo[7] = static_cast<uint8_t>(seq);
        echo[8] = 'V';
        echo[9] = 't';
        echo[10] = flow;
        echo[15] = static_cast<uint8_t>(seq);
        ASSERT_GT(sendto(icmp, echo, sizeof(echo), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
                  0);
        ++injected;
        // A SYN-ACK from port 9 to our flow port acking a guessed ISN.
        uint8_t synack[20] = {0, 9};
        const uint16_t dport = codec.SourcePort(1, flow);
        synack[2] = static_cast<uint8_t>(dport >> 8);
        synack[3] = static_cast<uint8_t>(dport);
        synack[8] = static_cast<uint8_t>(seq);
        synack[11] = 1;
        synack[12] = 5 << 4;
        synack[13] = 0x12;
        ASSERT_GT(
            sendto(tcp, synack, sizeof(synack), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            0);
        ++injected;
        // A STAMP reflection to our flow socket with a made-up sender timestamp.
        uint8_t reflection[8 + 44] = {};
        reflection[0] = static_cast<uint8_t>(stamp_port >> 8);
        reflection[1] = static_cast<uint8_t>(stamp_port);
        const uint16_t sport = codec.SourcePort(2, flow);
        reflection[2] = static_cast<uint8_t>(sport >> 8);
        reflection[3] = static_cast<uint8_t>(sport);
        reflection[5] = sizeof(reflection);
        reflection[8 + 27] = static_cast<uint8_t>(seq);
        reflection[8 + 35] = 0x5a;
        ASSERT_GT(sendto(udp, reflection, sizeof(reflection), 0, reinterpret_cast<sockaddr*>(&to),
                         sizeof(to)),
                  0);
        ++injected;
      }
    }
    close(icmp);
    close(tcp);
    close(udp);
  };
  auto result = PingSession::Run(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(injected, 18);
  EXPECT_EQ(result->counters.forged, 18u);
  ExpectAllAnswered(*result, 5);
}

// Two namespaces joined by a veth pair: "a" probes, "b" answers (and, with
// forwarding on and no onward route, plays the router that reports
// unreachable destinations).
class NamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    prefix_ = absl::StrCat("vtt", getpid(), "ap");
    a_ = prefix_ + "a";
    b_ = prefix_ + "b";
    Cleanup();
    const std::string script = absl::StrCat(
        "set -e; ip netns add ", a_, "; ip netns add ", b_, ";", "ip link add ", a_,
        " type veth peer name ", b_, ";", "ip link set ", a_, " netns ", a_, "; ip link set ", b_,
        " netns ", b_, ";", "ip -n ", a_, " link set lo up; ip -n ", b_, " link set lo up;",
        "ip netns exec ", a_,
        " sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0;",
        "ip netns exec ", b_,
        " sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0;", "ip -n ",
        a_, " addr add 198.18.77.1/24 dev ", a_, "; ip -n ", b_, " addr add 198.18.77.2/24 dev ",
        b_, ";", "ip -n ", a_, " addr add 2001:db8:77::1/64 dev ", a_, " nodad; ip -n ", b_,
        " addr add 2001:db8:77::2/64 dev ", b_, " nodad;", "ip -n ", a_, " link set ", a_,
        " up; ip -n ", b_, " link set ", b_, " up;", "ip -n ", a_,
        " route add 198.18.200.0/24 via 198.18.77.2;", "ip -n ", a_,
        " route add 2001:db8:200::/48 via 2001:db8:77::2;", "ip netns exec ", b_,
        " sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 "
        "net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0;");
    ASSERT_EQ(std::system(script.c_str()), 0) << script;
    created_ = true;
    // Wait until the link passes traffic both ways (v6 neighbour discovery).
    const std::string wait = absl::StrCat(
        "for i in $(seq 50); do ip netns exec ", a_,
        " ping -c1 -W1 -q 198.18.77.2 >/dev/null 2>&1 && ", "ip netns exec ", a_,
        " ping -6 -c1 -W1 -q 2001:db8:77::2 >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1");
    ASSERT_EQ(std::system(wait.c_str()), 0);
  }
  void TearDown() override {
    if (created_) Cleanup();
  }
  void Cleanup() {
    std::system(absl::StrCat("ip netns del ", a_, " 2>/dev/null; ip netns del ", b_, " 2>/dev/null")
                    .c_str());
  }

  std::string prefix_, a_, b_;
  bool created_ = false;
};

TEST_F(NamespaceTest, AllMethodsAcrossAVethPair) {
  ReflectorThread reflector(b_, 862);
  std::vector<ProbeTarget> targets;
  for (const char* a : {"198.18.77.2", "2001:db8:77::2"}) {
    targets.push_back({Ip(a), Method("icmp")});
    targets.push_back({Ip(a), Method("tcp:443")});  // closed: RST-ACK
    targets.push_back({Ip(a), Method("stamp")});
  }
  PingResult result;
  InNamespace(a_, [&] {
    auto r = PingSession::Run(Quick(targets, 10));
    ASSERT_TRUE(r.ok()) << r.status();
    result = *r;
  });
  ASSERT_EQ(result.targets.size(), 6u);
  EXPECT_EQ(result.interfaces, std::vector<std::string>{a_});
  ExpectAllAnswered(result, 10);
  EXPECT_EQ(reflector.Join(), 20u);
}

TEST_F(NamespaceTest, IcmpErrorsAreAttributedToTheirProbes) {
  std::vector<ProbeTarget> targets = {
      {Ip("198.18.200.9"), Method("icmp")},       // b has no route: net unreachable
      {Ip("2001:db8:200::9"), Method("tcp:80")},  // ICMPv6 no route
      {Ip("198.18.77.2"), Method("stamp:4242")},  // nobody listens: port unreachable
      {Ip("2001:db8:77::2"), Method("stamp:4242")},
  };
  // IPv4 "no route" errors from b would be rate-limited by the global
  // net.ipv4.route.error_cost; TTL-exceeded obeys b's icmp_ratelimit (0).
  // b routes 198.18.200.0/24 to a link of its own, so a's TTL-1 packets die in b's
  // forwarding path with "time exceeded".
  ASSERT_EQ(std::system(absl::StrCat("set -e; ip netns exec ", a_,
                                     " sysctl -qw net.ipv4.ip_default_ttl=1; ip -n ", b_,
                                     " link add vtx0 type veth peer name vtx1; ip -n ", b_,
                                     " link set vtx0 up; ip -n ", b_, " link set vtx1 up; ip -n ",
                                     b_, " addr add 198.18.200.1/24 dev vtx0")
                            .c_str()),
            0);
  PingResult result;
  InNamespace(a_, [&] {
    PingOptions o = Quick(targets, 4);
    o.interval = absl::Milliseconds(50);
    auto r = PingSession::Run(o);
    ASSERT_TRUE(r.ok()) << r.status();
    result = *r;
  });
  ASSERT_EQ(result.targets.size(), 4u);
  const auto kind = [](IcmpErrorKind k) { return static_cast<size_t>(k); };
  for (const auto& t : result.targets) {
    SCOPED_TRACE(absl::StrCat(t.target.address.ToString(), " ", t.target.spec.ToString()));
    EXPECT_EQ(t.merged.sent, 4u);
    EXPECT_EQ(t.merged.received, 0u);
    EXPECT_EQ(t.merged.lost, 4u);
    std::string errors;
    for (int k = 0; k < kIcmpErrorKinds; ++k) {
      if (t.merged.errors[static_cast<size_t>(k)] != 0) {
        absl::StrAppend(&errors, IcmpErrorKindName(static_cast<IcmpErrorKind>(k)), "=",
                        t.merged.errors[static_cast<size_t>(k)], " ");
      }
    }
    RecordProperty(t.target.address.ToString() + "_" + t.target.spec.ToString(), errors);
  }
  EXPECT_EQ(result.targets[0].merged.errors[kind(IcmpErrorKind::kTimeExceeded)], 4u);
  EXPECT_EQ(result.targets[1].merged.errors[kind(IcmpErrorKind::kNetUnreachable)], 4u);
  EXPECT_EQ(result.targets[2].merged.errors[kind(IcmpErrorKind::kPortUnreachable)], 4u);
  EXPECT_EQ(result.targets[3].merged.errors[kind(IcmpErrorKind::kPortUnreachable)], 4u);
  EXPECT_EQ(result.counters.unattributed_errors, 0u);
  EXPECT_EQ(result.counters.forged, 0u);
}

}  // namespace
}  // namespace vantage::probe
