#include "tests/resolver/fake_dns_transport.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vantage::resolver::testing {

FakeDnsTransport::~FakeDnsTransport() {
  for (auto& [fd, s] : sockets_) ::close(fd);
}

int FakeDnsTransport::Socket(int /*domain*/, int type, int /*protocol*/) {
  if (type != SOCK_DGRAM) {
    errno = EPROTONOSUPPORT;
    return -1;
  }
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return -1;
  sockets_[fd] = FakeSocket{};
  return fd;
}

int FakeDnsTransport::Close(int fd) {
  sockets_.erase(fd);
  return ::close(fd);
}

int FakeDnsTransport::Connect(int fd, const sockaddr* address, socklen_t address_length) {
  auto& s = sockets_.at(fd);
  std::memcpy(&s.server, address, address_length);
  s.server_length = address_length;
  return 0;
}

ssize_t FakeDnsTransport::SendV(int fd, const iovec* iov, int iov_count, absl::Time* sent_at) {
  std::vector<uint8_t> query;
  for (int i = 0; i < iov_count; ++i) {
    const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    query.insert(query.end(), p, p + iov[i].iov_len);
  }
  *sent_at = now_;
  ++queries_seen_;
  auto& s = sockets_.at(fd);
  for (FakeDatagram& d : responder_(query)) {
    s.arrivals.emplace_back(now_ + d.delay, std::move(d.bytes));
    const uint64_t one = 1;
    if (::write(fd, &one, sizeof(one)) < 0) return -1;
  }
  return static_cast<ssize_t>(query.size());
}

ssize_t FakeDnsTransport::RecvFrom(int fd, bool /*datagram*/, void* buffer, size_t length,
                                   sockaddr* from, socklen_t* from_length, DnsReceiveInfo* info) {
  auto& s = sockets_.at(fd);
  if (s.arrivals.empty()) {
    errno = EAGAIN;
    return -1;
  }
  auto [at, bytes] = std::move(s.arrivals.front());
  s.arrivals.pop_front();
  if (s.arrivals.empty()) {
    uint64_t count = 0;
    (void)::read(fd, &count, sizeof(count));
  }
  const size_t n = bytes.size();
  std::memcpy(buffer, bytes.data(), std::min(n, length));
  info->received_at = at;
  info->kernel_timestamp = true;
  info->full_length = n;
  if (from != nullptr && from_length != nullptr) {
    std::memcpy(from, &s.server, std::min<size_t>(*from_length, s.server_length));
    *from_length = s.server_length;
  }
  return static_cast<ssize_t>(std::min(n, length));
}

}  // namespace vantage::resolver::testing
