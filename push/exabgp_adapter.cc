#include "push/exabgp_adapter.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace vantage::push {

namespace {

struct Announced {
  std::string neighbor;
  std::string next_hop;
  uint64_t bandwidth;
};

// (prefix, pop) -> announcement, for weight > 0 routes.
std::map<std::pair<std::string, std::string>, Announced> Announcements(const IntendedState& s) {
  std::map<std::pair<std::string, std::string>, Announced> out;
  for (const auto& p : s.prefixes) {
    for (const auto& r : p.routes) {
      if (r.weight <= 0) continue;
      out[{p.prefix.ToString(), r.pop}] = {r.neighbor.ToString(), r.next_hop.ToString(),
                                           LinkBandwidth(s, r.weight)};
    }
  }
  return out;
}

std::string AnnounceLine(const std::string& prefix, const Announced& a, uint32_t asn) {
  return absl::StrCat("neighbor ", a.neighbor, " announce route ", prefix, " next-hop ", a.next_hop,
                      " extended-community [ bandwidth:", asn, ":", a.bandwidth, " ]");
}

}  // namespace

std::vector<std::string> ExabgpCommands(const IntendedState& from, const IntendedState& to) {
  auto old_a = Announcements(from);
  auto new_a = Announcements(to);
  std::vector<std::string> out;
  // Withdrawals first, so a moved next hop never leaves two of one PoP.
  for (const auto& [key, a] : old_a) {
    auto it = new_a.find(key);
    if (it == new_a.end() || it->second.neighbor != a.neighbor ||
        it->second.next_hop != a.next_hop) {
      out.push_back(absl::StrCat("neighbor ", a.neighbor, " withdraw route ", key.first,
                                 " next-hop ", a.next_hop));
    }
  }
  for (const auto& [key, a] : new_a) {
    auto it = old_a.find(key);
    if (it == old_a.end() || it->second.neighbor != a.neighbor ||
        it->second.next_hop != a.next_hop || it->second.bandwidth != a.bandwidth ||
        from.asn != to.asn) {
      out.push_back(AnnounceLine(key.first, a, to.asn));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ExabgpAdapter>> ExabgpAdapter::Create(
    const std::string& socket_path) {
  sockaddr_un addr{};
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad socket path '", socket_path, "'"));
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  unlink(socket_path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 4) != 0) {
    int e = errno;
    close(fd);
    return absl::ErrnoToStatus(e, absl::StrCat("bind/listen ", socket_path));
  }
  auto adapter = std::unique_ptr<ExabgpAdapter>(new ExabgpAdapter(fd, socket_path));
  if (pipe2(adapter->wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  adapter->thread_ = std::thread([a = adapter.get()] { a->Run(); });
  return adapter;
}

ExabgpAdapter::ExabgpAdapter(int listen_fd, std::string socket_path)
    : listen_fd_(listen_fd), socket_path_(std::move(socket_path)) {}

ExabgpAdapter::~ExabgpAdapter() {
  stop_ = true;
  if (wake_fds_[1] >= 0) {
    char c = 1;
    (void)!write(wake_fds_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
  if (conn_fd_ >= 0) close(conn_fd_);
  close(listen_fd_);
  for (int fd : wake_fds_) {
    if (fd >= 0) close(fd);
  }
  unlink(socket_path_.c_str());
}

void ExabgpAdapter::Run() {
  while (!stop_) {
    int conn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      conn = conn_fd_;
    }
    pollfd fds[3] = {{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}, {conn, POLLIN, 0}};
    int n = poll(fds, conn >= 0 ? 3 : 2, 200);
    if (n <= 0) continue;
    if (fds[2].revents != 0 && conn >= 0) {
      char buf[4096];
      ssize_t r = read(conn, buf, sizeof(buf));  // ExaBGP's "done" acks: drained
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        std::lock_guard<std::mutex> lock(mu_);
        if (conn_fd_ == conn) {
          close(conn_fd_);
          conn_fd_ = -1;
          spdlog::warn("exabgp adapter: relay disconnected (ExaBGP stopped?)");
        }
      }
    }
    if (fds[0].revents & POLLIN) {
      int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c < 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (conn_fd_ >= 0) close(conn_fd_);
      conn_fd_ = c;
      connections_++;
      // A new relay means a (re)started ExaBGP with an empty RIB: replay.
      if (have_applied_) {
        auto st = SendLocked(ExabgpCommands(IntendedState{}, applied_));
        spdlog::info("exabgp adapter: relay connected, replayed intended state: {}", st.ToString());
      } else {
        spdlog::info("exabgp adapter: relay connected");
      }
    }
  }
}

absl::Status ExabgpAdapter::SendLocked(const std::vector<std::string>& lines) {
  if (conn_fd_ < 0) return absl::UnavailableError("no ExaBGP relay connected");
  std::string buf;
  for (const auto& l : lines) absl::StrAppend(&buf, l, "\n");
  size_t off = 0;
  int spins = 0;
  while (off < buf.size()) {
    ssize_t w = send(conn_fd_, buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EINTR) && spins++ < 5000) {
      pollfd p{conn_fd_, POLLOUT, 0};
      poll(&p, 1, 1);
      continue;
    }
    int e = errno;
    close(conn_fd_);
    conn_fd_ = -1;
    return absl::UnavailableError(absl::StrCat("write to ExaBGP relay: ", std::strerror(e)));
  }
  return absl::OkStatus();
}

absl::Status ExabgpAdapter::Apply(const IntendedState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  auto lines = ExabgpCommands(have_applied_ ? applied_ : IntendedState{}, state);
  auto st = SendLocked(lines);
  if (!st.ok()) return st;
  applied_ = state;
  have_applied_ = true;
  return absl::OkStatus();
}

bool ExabgpAdapter::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conn_fd_ >= 0;
}

bool ExabgpAdapter::WaitConnected(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (connected()) return true;
    usleep(20000);
  }
  return connected();
}

}  // namespace vantage::push
