// DnsTransport: the network boundary of the resolver. c-ares 1.18 lets its
// user replace the socket calls it makes (ares_set_socket_functions); the
// DnsProber routes them through this interface, so that
//   * the real implementation (PosixDnsTransport) can take the kernel's
//     transmit timestamp (or the time right at the send call) and the
//     kernel's receive timestamp (SO_TIMESTAMPNS) of every datagram, and
//   * unit tests can substitute a fake server (scripted answers, fake time).
//
// Contract: the calls follow the POSIX ones they stand for (return -1 and set
// errno on failure; EAGAIN/EWOULDBLOCK when nothing is there), because c-ares
// inspects errno. Descriptors returned by Socket() must be real, pollable
// file descriptors (the prober watches them on the EventLoop) and already
// non-blocking: c-ares 1.18 does not set O_NONBLOCK on sockets that user
// socket functions create, and a blocking read would stall the loop.
//
// Thread model: called only on the loop thread that owns the DnsProber.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

#include "absl/time/time.h"

namespace vantage::resolver {

struct DnsReceiveInfo {
  // When the datagram (or, on a stream, the bytes) arrived: the kernel's
  // timestamp when `kernel_timestamp`, else the time of the receive call.
  // Wall clock (CLOCK_REALTIME), like DnsTransport::SendV's `sent_at`.
  absl::Time received_at;
  bool kernel_timestamp = false;
  // The datagram's full length; larger than the return value when the
  // buffer was too small (MSG_TRUNC).
  size_t full_length = 0;
};

class DnsTransport {
 public:
  virtual ~DnsTransport() = default;

  virtual int Socket(int domain, int type, int protocol) = 0;
  virtual int Close(int fd) = 0;
  virtual int Connect(int fd, const sockaddr* address, socklen_t address_length) = 0;
  // `sent_at`: wall-clock time the bytes left: the kernel's transmit
  // timestamp where the implementation has one, else the time taken
  // immediately before they were handed to the kernel.
  virtual ssize_t SendV(int fd, const iovec* iov, int iov_count, absl::Time* sent_at) = 0;
  // `datagram` tells a UDP socket (one datagram per call, full length in
  // `info`) from a TCP one (stream bytes).
  virtual ssize_t RecvFrom(int fd, bool datagram, void* buffer, size_t length, sockaddr* from,
                           socklen_t* from_length, DnsReceiveInfo* info) = 0;
};

}  // namespace vantage::resolver
