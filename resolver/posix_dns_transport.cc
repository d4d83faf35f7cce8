#include "resolver/posix_dns_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vantage::resolver {

int PosixDnsTransport::Socket(int domain, int type, int protocol) {
  // Non-blocking: c-ares 1.18 does not set O_NONBLOCK on sockets that user
  // socket functions create, and a blocking read would stall the loop.
  const int fd = ::socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  if (fd < 0) return fd;
  const int on = 1;
  // Best effort: without it RecvFrom falls back to the clock.
  (void)::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
  if (type == SOCK_STREAM) (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
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
  *sent_at = clock_.Now();
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}

ssize_t PosixDnsTransport::RecvFrom(int fd, bool datagram, void* buffer, size_t length,
                                    sockaddr* from, socklen_t* from_length, DnsReceiveInfo* info) {
  iovec iov{buffer, length};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
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
  if (n < 0) return n;
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
