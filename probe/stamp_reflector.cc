#include "probe/stamp_reflector.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timex.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "probe/stamp_packet.h"

namespace vantage::probe {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Time RealtimeNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

}  // namespace

absl::StatusOr<std::unique_ptr<StampReflector>> StampReflector::Create(const Options& options,
                                                                       EventLoop* loop) {
  bool synchronized = false;
  absl::Duration error = absl::Milliseconds(1);
  if (options.synchronized) {
    synchronized = *options.synchronized;
  } else {
    timex tx{};
    const int rc = adjtimex(&tx);
    synchronized = rc >= 0 && rc != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
    if (synchronized && tx.esterror > 0) error = absl::Microseconds(tx.esterror);
  }
  std::unique_ptr<StampReflector> r(
      new StampReflector(loop, MakeErrorEstimate(synchronized, error)));
  if (options.address) {
    VANTAGE_RETURN_IF_ERROR(
        r->Open(options.address->is_v4() ? AF_INET : AF_INET6, options.address, options.port));
  } else {
    // IPv6 first: with port 0 its port is then taken for IPv4 too.
    VANTAGE_RETURN_IF_ERROR(r->Open(AF_INET6, std::nullopt, options.port));
    VANTAGE_RETURN_IF_ERROR(r->Open(AF_INET, std::nullopt, r->port_));
  }
  return r;
}

StampReflector::~StampReflector() {
  for (int fd : fds_) {
    loop_->UnwatchFd(fd);
    close(fd);
  }
}

absl::Status StampReflector::Open(int family, const std::optional<IpAddress>& address,
                                  uint16_t port) {
  const int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  fds_.push_back(fd);
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0) {
    return Errno("SO_TIMESTAMPNS");
  }
  if (family == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) != 0 ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) != 0) {
      return Errno("setsockopt(IPV6_*)");
    }
  } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) != 0 ||
             setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one)) != 0) {
    return Errno("setsockopt(IP_*)");
  }
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (address) {
    len = Endpoint(*address, port).ToSockaddr(&ss);
  } else if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    len = sizeof(*sin6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    len = sizeof(*sin);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return Errno(absl::StrCat("bind STAMP reflector to port ", port));
  }
  len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Errno("getsockname");
  auto bound = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss));
  if (!bound.ok()) return bound.status();
  port_ = bound->port();
  return loop_->WatchFd(fd, EPOLLIN, [this, fd](uint32_t) { OnReadable(fd); });
}

void StampReflector::OnReadable(int fd) {
  // Bounded per wake-up so one busy sender can't starve the loop.
  for (int i = 0; i < 256; ++i) {
    std::array<uint8_t, 2048> buffer{};
    sockaddr_storage peer{};
    alignas(cmsghdr) std::array<char, 256> control{};
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_name = &peer;
    msg.msg_namelen = sizeof(peer);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0) return;  // EAGAIN: drained
    absl::Time received = absl::InfinitePast();
    int ttl = 0;
    std::optional<in_pktinfo> pktinfo4;
    std::optional<in6_pktinfo> pktinfo6;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS) {
        timespec ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        received = absl::TimeFromTimespec(ts);
      } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                 (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
        std::memcpy(&ttl, CMSG_DATA(c), sizeof(ttl));
      } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo p{};
        std::memcpy(&p, CMSG_DATA(c), sizeof(p));
        pktinfo4 = p;
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo p{};
        std::memcpy(&p, CMSG_DATA(c), sizeof(p));
        pktinfo6 = p;
      }
    }
    if (received == absl::InfinitePast()) received = RealtimeNow();
    const auto sender =
        StampSenderPacket::Decode(absl::MakeConstSpan(buffer.data(), static_cast<size_t>(n)));
    if (!sender) {
      ++counters_.malformed;
      continue;
    }
    // Symmetric size (RFC 8762 section 4.3): as long as the test packet,
    // at least the reflector packet's 44 bytes.
    const size_t reply_size = std::max(kStampPacketSize, static_cast<size_t>(n));
    std::array<uint8_t, 2048> reply{};
    StampReflectorPacket r;
    r.sequence = sender->sequence;
    r.error_estimate = error_estimate_;
    r.receive_timestamp = ToNtpTimestamp(received);
    r.sender_sequence = sender->sequence;
    r.sender_timestamp = sender->timestamp;
    r.sender_error_estimate = sender->error_estimate;
    r.sender_ttl = static_cast<uint8_t>(ttl);

    alignas(cmsghdr) std::array<char, 64> out_control{};
    msghdr out{};
    iovec out_iov{reply.data(), reply_size};
    out.msg_name = &peer;
    out.msg_namelen = msg.msg_namelen;
    out.msg_iov = &out_iov;
    out.msg_iovlen = 1;
    if (pktinfo4 || pktinfo6) {
      out.msg_control = out_control.data();
      out.msg_controllen =
          pktinfo4 ? CMSG_SPACE(sizeof(in_pktinfo)) : CMSG_SPACE(sizeof(in6_pktinfo));
      cmsghdr* c = CMSG_FIRSTHDR(&out);
      if (pktinfo4) {
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
        in_pktinfo p{};
        p.ipi_spec_dst = pktinfo4->ipi_addr;  // reply from the address the packet was sent to
        std::memcpy(CMSG_DATA(c), &p, sizeof(p));
      } else {
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        in6_pktinfo p{};
        p.ipi6_addr = pktinfo6->ipi6_addr;
        std::memcpy(CMSG_DATA(c), &p, sizeof(p));
      }
    }
    r.timestamp = ToNtpTimestamp(RealtimeNow());
    r.Encode(absl::MakeSpan(reply.data(), kStampPacketSize));
    if (sendmsg(fd, &out, 0) < 0) {
      ++counters_.send_errors;
    } else {
      ++counters_.reflected;
    }
  }
}

}  // namespace vantage::probe
