// PosixDnsTransport: DnsTransport on the kernel's sockets. Every socket gets
// SO_TIMESTAMPNS, so receive times are the kernel's arrival stamps rather
// than the time our loop got round to reading. UDP sockets also ask for
// software transmit timestamps (SO_TIMESTAMPING), so a datagram's send time
// is when the device driver took it, read back from the socket's error queue
// right after sendmsg(); when none is there by then (no support, or the
// datagram still queued), the clock read immediately before sendmsg().
//
// Thread model: stateless apart from the Clock; call from the loop thread.
#pragma once

#include "core/clock.h"
#include "resolver/dns_transport.h"

namespace vantage::resolver {

class PosixDnsTransport final : public DnsTransport {
 public:
  explicit PosixDnsTransport(const Clock& clock = RealClock::Get()) : clock_(clock) {}

  int Socket(int domain, int type, int protocol) override;
  int Close(int fd) override;
  int Connect(int fd, const sockaddr* address, socklen_t address_length) override;
  ssize_t SendV(int fd, const iovec* iov, int iov_count, absl::Time* sent_at) override;
  ssize_t RecvFrom(int fd, bool datagram, void* buffer, size_t length, sockaddr* from,
                   socklen_t* from_length, DnsReceiveInfo* info) override;

 private:
  const Clock& clock_;
};

}  // namespace vantage::resolver
