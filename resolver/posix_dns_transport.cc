#include "resolver/posix_dns_transport.h"

#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace vantage::resolver {
namespace {

// The kernel's software transmit timestamp of the datagram just sent on
// `fd`, from its error queue: accepted only within [before, after] (the
// clock around the send call), so that a stamp left from an earlier send is
// never taken for this one. Drains every stamp waiting.
std::optional<absl::Time> TakeTxTimestamp(int fd, absl::Time before, absl::Time after) {
  std::optional<absl::Time> found;
  for (int i = 0; i < 8; ++i) {
    alignas(cmsghdr) char control[256];
    char data[64];
    iovec iov{data, sizeof(data)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
        scm_timestamping ts{};
        std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
        const absl::Time t = absl::TimeFromTimespec(ts.ts[0]);
        if (ts.ts[0].tv_sec != 0 && t >= before && t <= after) found = t;
      }
    }
  }
  return found;
}

}  // namespace

int PosixDnsTransport::Socket(int domain, int type, int protocol) {
  // Non-blocking: c-ares 1.18 does not set O_NONBLOCK on sockets that user
  // socket functions create, and a blocking read would stall the loop.
  const int fd = ::socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  if (fd < 0) return fd;
  const int on = 1;
  // Best effort: without it RecvFrom falls back to the clock.
  (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  if (type == SOCK_STREAM) {
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  } else {
    // Best effort: software transmit timestamps (taken by the device driver
    // as the datagram leaves), reported without the payload. Without them
    // SendV falls back to the clock before the send call.
    const int flags =
        SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY;
    (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags));
  }
  return fd;
}

int PosixDnsTransport::Close(int fd) { return ::close(fd); }

int PosixDnsTransport::Connect(int fd, const sockaddr* address, socklen_t address_length) {
  return ::connect(fd, address, address_length);
}

ssize_t PosixDnsTransport::SendV(int fd, const iovec* iov, int iov_count, absl::Time* sent_at) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(iov_count);
  const absl::Time before = clock_.Now();
  *sent_at = before;
  const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n > 0) {
    if (std::optional<absl::Time> wire = TakeTxTimestamp(fd, before, clock_.Now())) {
      *sent_at = *wire;
    }
  }
  return n;
}

ssize_t PosixDnsTransport::RecvFrom(int fd, bool datagram, void* buffer, size_t length,
                                    sockaddr* from, socklen_t* from_length, DnsReceiveInfo* info) {
  iovec iov{buffer, length};
  // Room for SCM_TIMESTAMPNS and the SCM_TIMESTAMPING that the transmit
  // timestamping flags add to received datagrams.
  alignas(
      cmsghdr) char control[CMSG_SPACE(sizeof(timespec)) + CMSG_SPACE(sizeof(scm_timestamping))];
  msghdr msg{};
  msg.msg_name = from;
  msg.msg_namelen = from_length != nullptr ? *from_length : 0;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  // MSG_TRUNC on a datagram socket makes recvmsg return the full length.
  const int flags = datagram ? MSG_TRUNC : 0;
  const ssize_t n = ::recvmsg(fd, &msg, flags);
  if (n < 0) {
    // A transmit timestamp that arrived after its send was taken leaves the
    // socket signalling an error (EPOLLERR) until it is read: drop it.
    if (datagram && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const int saved = errno;
      (void)TakeTxTimestamp(fd, absl::InfiniteFuture(), absl::InfinitePast());
      errno = saved;
    }
    return n;
  }
  if (from_length != nullptr) *from_length = msg.msg_namelen;
  info->kernel_timestamp = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
      info->received_at = absl::TimeFromTimespec(ts);
      info->kernel_timestamp = true;
    }
  }
  if (!info->kernel_timestamp) info->received_at = clock_.Now();
  info->full_length = static_cast<size_t>(n);
  return static_cast<ssize_t>(static_cast<size_t>(n) > length ? length : static_cast<size_t>(n));
}

}  // namespace vantage::resolver
