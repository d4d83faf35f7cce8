#include "lab/traffic_generator.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <vector>

#include "absl/time/clock.h"
#include "lab/bgp_daemons.h"

namespace vantage::lab {
namespace {

struct Connection {
  int fd = -1;
  std::string destination;
  absl::Time deadline;
  bool connected = false;
};

}  // namespace

absl::StatusOr<TrafficReport> RunTrafficGenerator(const TrafficOptions& o, CommandRunner* runner) {
  if (!(o.rate > 0) || o.duration <= absl::ZeroDuration() || o.max_in_flight < 1) {
    return absl::InvalidArgumentError("traffic: rate, duration and max_in_flight must be > 0");
  }
  TrafficReport report;
  std::mt19937_64 rng(o.seed);
  std::map<std::string, int> fib;
  absl::Time next_refresh = absl::InfinitePast();
  const absl::Time start = absl::Now();
  const absl::Time end = start + o.duration;
  const absl::Duration gap = absl::Seconds(1.0 / o.rate);
  const uint64_t total = static_cast<uint64_t>(o.rate * absl::ToDoubleSeconds(o.duration));
  uint64_t made = 0;
  std::vector<Connection> open;

  auto pick = [&]() -> std::optional<std::string> {
    int sum = 0;
    for (const auto& [nh, w] : fib) sum += w;
    if (sum <= 0) {
      if (o.fallback.has_value()) return o.fallback->ToString();
      return std::nullopt;
    }
    int x = static_cast<int>(rng() % static_cast<uint64_t>(sum));
    for (const auto& [nh, w] : fib) {
      if (x < w) return nh;
      x -= w;
    }
    return fib.rbegin()->first;
  };
  auto start_one = [&](const std::string& dest) {
    TrafficCounts& c = report.by_destination[dest];
    c.started++;
    auto ip = IpAddress::Parse(dest);
    if (!ip.ok()) {
      c.failed++;
      return;
    }
    const int fd =
        socket(ip->is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      c.failed++;
      return;
    }
    sockaddr_storage ss{};
    const unsigned len = Endpoint(*ip, o.port).ToSockaddr(&ss);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
      close(fd);
      c.failed++;
      return;
    }
    open.push_back({fd, dest, absl::Now() + o.timeout, false});
  };
  auto finish = [&](size_t i, bool ok) {
    close(open[i].fd);
    TrafficCounts& c = report.by_destination[open[i].destination];
    (ok ? c.completed : c.failed)++;
    open[i] = open.back();
    open.pop_back();
  };

  while (true) {
    const absl::Time now = absl::Now();
    if (now >= next_refresh && now < end) {
      auto f = ReadFibWeights(runner, o.router_ns, o.service_prefix);
      if (f.ok()) fib = std::move(*f);
      next_refresh = now + o.fib_refresh;
    }
    // Connections due by now (paced from the start: exactly `total`, all due
    // before `end`; one due just before `end` is still made after it).
    while (made < total && now >= start + gap * static_cast<double>(made) &&
           static_cast<int>(open.size()) < o.max_in_flight) {
      made++;
      auto dest = pick();
      if (dest.has_value()) {
        start_one(*dest);
      } else {
        report.no_route++;
      }
    }
    if (open.empty() && made >= total) break;
    std::vector<pollfd> fds;
    fds.reserve(open.size());
    for (const Connection& c : open) {
      fds.push_back({c.fd, static_cast<short>(c.connected ? POLLIN : POLLOUT), 0});
    }
    poll(fds.data(), fds.size(), 5);
    const absl::Time after = absl::Now();
    for (size_t i = open.size(); i-- > 0;) {
      Connection& c = open[i];
      const short ev = fds[i].revents;
      if (!c.connected && (ev & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        int err = 0;
        socklen_t l = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0) {
          finish(i, false);
          continue;
        }
        c.connected = true;
        continue;
      }
      if (c.connected && (ev & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[256];
        const ssize_t n = read(c.fd, buf, sizeof(buf));
        if (n == 0) {
          finish(i, true);
          continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
          finish(i, false);
          continue;
        }
      }
      if (after > c.deadline) finish(i, false);
    }
  }
  return report;
}

}  // namespace vantage::lab
