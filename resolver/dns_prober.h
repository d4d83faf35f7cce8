// DnsProber: times DNS queries with c-ares 1.18, on the probe's EventLoop.
//
// One Query() is one measurement: one query we build ourselves (our ID, an
// OPT RR asking for NSID) sent to one explicit server (address and port) over
// UDP, with c-ares' retries (tries=1), search domains, rotation and server
// fallback all off, and c-ares' automatic TCP fallback off (IGNTC). When the
// UDP answer is truncated the prober retries once over TCP on a separate
// c-ares channel and times that leg separately.
//
// Integration with the loop: c-ares reports its sockets through
// ARES_OPT_SOCK_STATE_CB and the prober watches them on the EventLoop; a
// single loop timer, armed from ares_timeout(), drives c-ares' timeouts. No
// thread, no ares_fds/select.
//
// Every socket call of c-ares goes through ares_set_socket_functions to the
// DnsTransport, which gives the send time and the kernel receive timestamp of
// each datagram. The prober reads every raw UDP answer before c-ares does and
// drops hostile ones (wrong ID, wrong question, garbage, cut off, larger than
// advertised), counting them by kind, so c-ares only sees answers to its
// queries; on TCP it counts what c-ares will discard.
//
// Ownership: the loop and the transport must outlive the prober. Destroying
// the prober abandons queries in flight without calling their callbacks.
//
// Thread model: all calls and all callbacks happen on the loop's thread. A
// callback may call Query() again; it may not destroy the prober.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/event_loop.h"
#include "core/ip_address.h"
#include "resolver/dns_query_builder.h"
#include "resolver/dns_query_result.h"
#include "resolver/dns_transport.h"

struct ares_socket_functions;

namespace vantage::resolver {

struct DnsProberOptions {
  absl::Duration timeout = absl::Seconds(2);
  DnsQueryOptions query;
  bool tcp_on_truncation = true;
};

class DnsProber {
 public:
  using ResultCallback = std::function<void(const DnsQueryResult& result)>;

  static absl::StatusOr<std::unique_ptr<DnsProber>> Create(EventLoop* loop, DnsTransport* transport,
                                                           const DnsProberOptions& options);
  ~DnsProber();
  DnsProber(const DnsProber&) = delete;
  DnsProber& operator=(const DnsProber&) = delete;

  // Sends one query to `server`; `done` runs exactly once on the loop thread
  // when the measurement ends (answer, timeout or error), possibly before
  // Query returns if the send fails at once. Returns the sequence number.
  // Errors (nothing sent, no callback): a bad name, a server we cannot set
  // up, or 65536 queries already in flight to that server.
  absl::StatusOr<uint64_t> Query(const Endpoint& server, const DnsQuestion& question,
                                 ResultCallback done);

  size_t in_flight() const { return in_flight_; }
  const DnsHostileCounts& hostile() const { return hostile_; }
  const DnsProberOptions& options() const { return options_; }

 private:
  struct Channel;
  struct Measurement;
  struct Leg;

  DnsProber(EventLoop* loop, DnsTransport* transport, const DnsProberOptions& options);

  absl::StatusOr<Channel*> GetChannel(const Endpoint& server, bool tcp);
  void StartLeg(Measurement* m, bool tcp);
  void FinishLeg(Leg* leg, int status);
  void Finish(Measurement* m);
  void ArmTimeoutTimer();
  void OnTimer();
  void OnFdEvent(Channel* channel, int fd, uint32_t events);

  static const ares_socket_functions* SocketFunctions();
  // c-ares hooks (user data: Channel*).
  static void OnSockState(void* data, int fd, int readable, int writable);
  static void OnAresDone(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static int AresSocket(int domain, int type, int protocol, void* data);
  static int AresClose(int fd, void* data);
  static int AresConnect(int fd, const struct sockaddr* address, unsigned int length, void* data);
  static ssize_t AresRecvFrom(int fd, void* buffer, size_t length, int flags, struct sockaddr* from,
                              unsigned int* from_length, void* data);
  static ssize_t AresSendV(int fd, const struct iovec* iov, int iov_count, void* data);

  ssize_t ReceiveDatagram(Channel* channel, int fd, void* buffer, size_t length, sockaddr* from,
                          socklen_t* from_length);
  ssize_t ReceiveStream(Channel* channel, int fd, void* buffer, size_t length);
  // Checks one complete answer against the channel's queries; on success
  // records it on the leg and returns true, else counts it as hostile.
  bool AcceptAnswer(Channel* channel, absl::Span<const uint8_t> message, const DnsReceiveInfo& info,
                    bool datagram);

  EventLoop* loop_;
  DnsTransport* transport_;
  DnsProberOptions options_;
  absl::flat_hash_map<std::pair<Endpoint, bool>, std::unique_ptr<Channel>> channels_;
  absl::BitGen rng_;
  uint64_t next_seq_ = 1;
  size_t in_flight_ = 0;
  DnsHostileCounts hostile_;
  EventLoop::TimerId timer_ = 0;
  bool timer_armed_ = false;
  bool destroying_ = false;
};

}  // namespace vantage::resolver
