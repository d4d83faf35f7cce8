// FakeDnsTransport: a DnsTransport whose "server" is a function. Each socket
// is an eventfd (pollable by the EventLoop, readable while answers are
// queued); queries never leave the process. Each answer the responder returns is
// delivered at once with a receive timestamp of send time + its delay, so
// measured times are exact.
//
// UDP only: stream sockets fail with EPROTONOSUPPORT.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "resolver/dns_transport.h"

namespace vantage::resolver::testing {

struct FakeDatagram {
  std::vector<uint8_t> bytes;
  absl::Duration delay;
};

class FakeDnsTransport final : public DnsTransport {
 public:
  using Responder = std::function<std::vector<FakeDatagram>(absl::Span<const uint8_t> query)>;

  explicit FakeDnsTransport(Responder responder, absl::Time now = absl::FromUnixSeconds(1700000000))
      : responder_(std::move(responder)), now_(now) {}
  ~FakeDnsTransport() override;

  int Socket(int domain, int type, int protocol) override;
  int Close(int fd) override;
  int Connect(int fd, const sockaddr* address, socklen_t address_length) override;
  ssize_t SendV(int fd, const iovec* iov, int iov_count, absl::Time* sent_at) override;
  ssize_t RecvFrom(int fd, bool datagram, void* buffer, size_t length, sockaddr* from,
                   socklen_t* from_length, DnsReceiveInfo* info) override;

  // Moves the fake clock (send times) forward.
  void Advance(absl::Duration d) { now_ += d; }
  int sockets_open() const { return static_cast<int>(sockets_.size()); }
  int queries_seen() const { return queries_seen_; }

 private:
  struct FakeSocket {
    sockaddr_storage server{};
    socklen_t server_length = 0;
    std::deque<std::pair<absl::Time, std::vector<uint8_t>>> arrivals;
  };
  Responder responder_;
  absl::Time now_;
  std::map<int, FakeSocket> sockets_;
  int queries_seen_ = 0;
};

}  // namespace vantage::resolver::testing
