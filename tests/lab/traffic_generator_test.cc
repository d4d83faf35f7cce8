// The traffic generator on loopback: connections split like the FIB
// weights it reads (a fake `ip route` answer), fall back before a route
// exists, and count failures.
#include "lab/traffic_generator.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace vantage::lab {
namespace {

class FakeIpRoute final : public CommandRunner {
 public:
  absl::StatusOr<CommandResult> Run(const std::vector<std::string>& argv, absl::Duration) override {
    calls++;
    EXPECT_EQ(argv[0], "ip");
    EXPECT_EQ(argv[2], "router-ns");
    return CommandResult{0, output};
  }
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>&, const std::string&) override {
    return absl::UnimplementedError("no");
  }
  std::string output;
  int calls = 0;
};

// Accepts on 127.0.0.1 and 127.0.0.2 (same port), writes a banner, closes.
class Listeners {
 public:
  Listeners() {
    for (uint32_t host : {0x7F000001u, 0x7F000002u}) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_addr.s_addr = htonl(host);
      sin.sin_port = htons(port_);
      const int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)), 0);
      EXPECT_EQ(listen(fd, 512), 0);
      if (port_ == 0) {
        socklen_t len = sizeof(sin);
        getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
        port_ = ntohs(sin.sin_port);
      }
      fds_.push_back(fd);
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
        if (poll(p, 2, 20) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
          if ((p[i].revents & POLLIN) == 0) continue;
          const int c = accept4(fds_[static_cast<size_t>(i)], nullptr, nullptr, SOCK_CLOEXEC);
          if (c < 0) continue;
          accepted[i]++;
          (void)!send(c, "hi\n", 3, MSG_NOSIGNAL);
          close(c);
        }
      }
    });
  }
  ~Listeners() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) close(fd);
  }
  uint16_t port() const { return port_; }
  std::atomic<int> accepted[2] = {0, 0};

 private:
  std::vector<int> fds_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(TrafficGeneratorTest, SplitsConnectionsLikeTheFibWeights) {
  Listeners listeners;
  FakeIpRoute ip;
  ip.output =
      "198.19.10.0/24 nhid 13 proto bgp metric 20\n"
      "\tnexthop via 127.0.0.1 dev vt0 weight 75\n"
      "\tnexthop via 127.0.0.2 dev vt0 weight 25\n";
  TrafficOptions o;
  o.router_ns = "router-ns";
  o.service_prefix = "198.19.10.0/24";
  o.port = listeners.port();
  o.rate = 400;
  o.duration = absl::Seconds(1);
  auto r = RunTrafficGenerator(o, &ip);
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& a = r->by_destination["127.0.0.1"];
  const auto& b = r->by_destination["127.0.0.2"];
  EXPECT_EQ(a.started + b.started, 400u);
  EXPECT_EQ(a.failed + b.failed, 0u);
  EXPECT_EQ(a.completed, a.started);
  // 400 draws at p = 0.75: sd 8.7; 5 sd either side.
  EXPECT_NEAR(static_cast<double>(a.started), 300, 44);
  EXPECT_GE(ip.calls, 1);
  EXPECT_EQ(listeners.accepted[0] + listeners.accepted[1], 400);
}

TEST(TrafficGeneratorTest, UsesTheFallbackWithoutARouteAndCountsFailures) {
  FakeIpRoute ip;  // no route
  TrafficOptions o;
  o.router_ns = "router-ns";
  o.service_prefix = "198.19.10.0/24";
  o.rate = 50;
  o.duration = absl::Milliseconds(200);
  auto none = RunTrafficGenerator(o, &ip);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->no_route, 10u);
  EXPECT_TRUE(none->by_destination.empty());
  // A fallback with nothing listening: refused, counted as failed.
  Listeners listeners;
  o.fallback = *IpAddress::Parse("127.0.0.3");
  o.port = listeners.port();
  auto refused = RunTrafficGenerator(o, &ip);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->by_destination["127.0.0.3"].failed, 10u);
  EXPECT_FALSE(RunTrafficGenerator(TrafficOptions{.rate = 0}, &ip).ok());
}

}  // namespace
}  // namespace vantage::lab
