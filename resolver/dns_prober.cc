#include "resolver/dns_prober.h"

#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "resolver/dns_response.h"
#include "resolver/dns_stream_framer.h"

namespace vantage::resolver {

namespace {

// Largest datagram we read; anything larger is cut by the kernel and counted
// as oversized (its full length comes from MSG_TRUNC).
constexpr size_t kMaxDatagram = 65536;
// Hostile datagrams dropped in one read call before yielding to the loop.
constexpr int kMaxDropsPerRead = 256;
// Without EDNS a UDP answer may not exceed 512 bytes (RFC 1035).
constexpr size_t kClassicUdpLimit = 512;

absl::Status InitAresLibrary() {
  static const int rc = ares_library_init(ARES_LIB_INIT_ALL);
  if (rc != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_library_init: ", ares_strerror(rc)));
  }
  return absl::OkStatus();
}

absl::Duration TimevalToDuration(const timeval& tv) {
  return absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
}

}  // namespace

struct DnsProber::Leg {
  Measurement* measurement = nullptr;
  Channel* channel = nullptr;
  bool tcp = false;
  bool sent = false;
  absl::Time sent_at;
  // The accepted answer, captured at the socket before c-ares processes it.
  std::optional<DnsResponse> response;
  DnsReceiveInfo received;
};

struct DnsProber::Measurement {
  DnsQueryResult result;
  std::vector<uint8_t> wire;
  ResultCallback done;
  Leg udp;
  Leg tcp;
};

struct DnsProber::Channel {
  struct SocketState {
    bool stream = false;
    DnsStreamFramer sent;
    DnsStreamFramer received;
  };

  DnsProber* prober = nullptr;
  Endpoint server;
  bool tcp = false;
  ares_channel channel = nullptr;
  absl::flat_hash_map<uint16_t, Leg*> legs_by_id;
  absl::flat_hash_map<int, SocketState> sockets;
  absl::flat_hash_map<int, uint32_t> watched;
};

absl::StatusOr<std::unique_ptr<DnsProber>> DnsProber::Create(EventLoop* loop,
                                                             DnsTransport* transport,
                                                             const DnsProberOptions& options) {
  if (loop == nullptr || transport == nullptr) {
    return absl::InvalidArgumentError("DnsProber needs a loop and a transport");
  }
  if (options.timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError("DnsProber timeout must be at least 1 ms");
  }
  if (options.query.nsid && !options.query.edns) {
    return absl::InvalidArgumentError("the NSID option needs EDNS");
  }
  if (options.query.edns && options.query.edns_buffer_size < kClassicUdpLimit) {
    return absl::InvalidArgumentError("EDNS buffer size must be at least 512");
  }
  VANTAGE_RETURN_IF_ERROR(InitAresLibrary());
  return std::unique_ptr<DnsProber>(new DnsProber(loop, transport, options));
}

DnsProber::DnsProber(EventLoop* loop, DnsTransport* transport, const DnsProberOptions& options)
    : loop_(loop), transport_(transport), options_(options) {}

DnsProber::~DnsProber() {
  destroying_ = true;
  if (timer_armed_) loop_->CancelTimer(timer_);
  for (auto& [key, channel] : channels_) {
    // Calls OnAresDone with ARES_EDESTRUCTION for every query in flight and
    // closes the sockets (through OnSockState and AresClose).
    ares_destroy(channel->channel);
    for (const auto& [fd, events] : channel->watched) loop_->UnwatchFd(fd);
  }
}

absl::StatusOr<DnsProber::Channel*> DnsProber::GetChannel(const Endpoint& server, bool tcp) {
  auto& slot = channels_[{server, tcp}];
  if (slot != nullptr) return slot.get();

  auto channel = std::make_unique<Channel>();
  channel->prober = this;
  channel->server = server;
  channel->tcp = tcp;

  ares_options opts{};
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
             ARES_OPT_DOMAINS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE | ARES_OPT_LOOKUPS;
  // NOCHECKRESP: hand us SERVFAIL/REFUSED answers instead of retrying.
  // IGNTC: no automatic TCP fallback (we do it, timed separately). Not
  // ARES_FLAG_EDNS: we build the OPT RR ourselves, and 1.18's EDNS fallback
  // would rewrite our query. STAYOPEN (UDP only): c-ares otherwise closes its
  // sockets whenever no query is in flight, so at low rates every query
  // would open a socket, and every SO_TIMESTAMPNS socket opened or closed
  // can flip the kernel's global timestamping static key (a cross-CPU text
  // patch that stalled the server by ~150 us per query in the benchmark).
  // The TCP channel closes its connection when idle, so a retry never meets
  // a connection the server has just timed out.
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOALIASES |
               (tcp ? ARES_FLAG_USEVC : (ARES_FLAG_IGNTC | ARES_FLAG_STAYOPEN));
  opts.timeout = static_cast<int>(absl::ToInt64Milliseconds(options_.timeout));
  opts.tries = 1;
  opts.ndots = 1;
  opts.domains = nullptr;
  opts.ndomains = 0;
  char lookups[] = "b";
  opts.lookups = lookups;
  opts.sock_state_cb = &DnsProber::OnSockState;
  opts.sock_state_cb_data = channel.get();
  int rc = ares_init_options(&channel->channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    channels_.erase({server, tcp});
    return absl::InternalError(absl::StrCat("ares_init_options: ", ares_strerror(rc)));
  }
  ares_set_socket_functions(channel->channel, SocketFunctions(), channel.get());

  ares_addr_port_node node{};
  node.next = nullptr;
  if (server.address().is_v4()) {
    node.family = AF_INET;
    std::memcpy(&node.addr.addr4, server.address().bytes(), 4);
  } else {
    node.family = AF_INET6;
    std::memcpy(&node.addr.addr6, server.address().bytes(), 16);
  }
  node.udp_port = server.port();
  node.tcp_port = server.port();
  rc = ares_set_servers_ports(channel->channel, &node);
  if (rc != ARES_SUCCESS) {
    ares_destroy(channel->channel);
    channels_.erase({server, tcp});
    return absl::InternalError(absl::StrCat("ares_set_servers_ports: ", ares_strerror(rc)));
  }
  slot = std::move(channel);
  return slot.get();
}

absl::StatusOr<uint64_t> DnsProber::Query(const Endpoint& server, const DnsQuestion& question,
                                          ResultCallback done) {
  VANTAGE_ASSIGN_OR_RETURN(Channel * udp, GetChannel(server, false));
  Channel* tcp = nullptr;
  if (options_.tcp_on_truncation) {
    VANTAGE_ASSIGN_OR_RETURN(tcp, GetChannel(server, true));
  }
  const auto id_in_use = [&](uint16_t id) {
    return udp->legs_by_id.contains(id) || (tcp != nullptr && tcp->legs_by_id.contains(id));
  };
  if (udp->legs_by_id.size() + (tcp != nullptr ? tcp->legs_by_id.size() : 0) >= 65536) {
    return absl::ResourceExhaustedError(
        absl::StrCat("65536 queries in flight to ", server.ToString()));
  }
  uint16_t id = absl::Uniform<uint16_t>(rng_);
  while (id_in_use(id)) id = absl::Uniform<uint16_t>(rng_);

  auto m = std::make_unique<Measurement>();
  VANTAGE_ASSIGN_OR_RETURN(m->wire, BuildDnsQuery(question, id, options_.query));
  m->result.seq = next_seq_++;
  m->result.server = server;
  m->result.question = question;
  VANTAGE_ASSIGN_OR_RETURN(m->result.question.name, NormalizeDnsName(question.name));
  m->result.id = id;
  m->done = std::move(done);
  m->udp.measurement = m.get();
  m->udp.channel = udp;
  m->tcp.measurement = m.get();
  m->tcp.channel = tcp;
  m->tcp.tcp = true;
  const uint64_t seq = m->result.seq;
  ++in_flight_;
  StartLeg(m.release(), /*tcp=*/false);
  ArmTimeoutTimer();
  return seq;
}

void DnsProber::StartLeg(Measurement* m, bool tcp) {
  Leg* leg = tcp ? &m->tcp : &m->udp;
  leg->channel->legs_by_id[m->result.id] = leg;
  // c-ares copies the buffer; for UDP the send happens inside this call.
  ares_send(leg->channel->channel, m->wire.data(), static_cast<int>(m->wire.size()),
            &DnsProber::OnAresDone, leg);
}

void DnsProber::OnAresDone(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* leg = static_cast<Leg*>(arg);
  DnsProber* self = leg->channel->prober;
  if (status == ARES_SUCCESS && !leg->response.has_value() && abuf != nullptr && alen > 0) {
    // c-ares accepted an answer our socket hook did not see complete: cannot
    // happen with our socket functions; fall back to its copy, timed now.
    auto parsed = ParseDnsResponse(absl::Span<const uint8_t>(abuf, static_cast<size_t>(alen)));
    if (parsed.ok()) {
      leg->response = *std::move(parsed);
      leg->received.received_at = absl::Now();
      leg->received.kernel_timestamp = false;
    }
  }
  self->FinishLeg(leg, status);
}

void DnsProber::FinishLeg(Leg* leg, int status) {
  Measurement* m = leg->measurement;
  leg->channel->legs_by_id.erase(m->result.id);
  if (destroying_ || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
    --in_flight_;
    delete m;
    return;
  }
  DnsAttempt attempt;
  attempt.sent_at = leg->sent ? leg->sent_at : absl::InfinitePast();
  if (status == ARES_SUCCESS && leg->response.has_value()) {
    attempt.outcome = DnsOutcome::kAnswer;
    attempt.time = leg->received.received_at - leg->sent_at;
    attempt.kernel_timestamp = leg->received.kernel_timestamp;
  } else if (status == ARES_ETIMEOUT || status == ARES_SUCCESS) {
    attempt.outcome = DnsOutcome::kTimeout;
  } else {
    attempt.outcome = DnsOutcome::kError;
    attempt.error = ares_strerror(status);
  }

  DnsQueryResult& r = m->result;
  if (attempt.outcome == DnsOutcome::kAnswer) {
    const DnsResponse& resp = *leg->response;
    r.rcode = resp.rcode;
    r.answer_count = resp.ancount;
    r.response_size = resp.size;
    r.answered_over = leg->tcp ? DnsTransportKind::kTcp : DnsTransportKind::kUdp;
    if (resp.nsid.has_value()) r.nsid = resp.nsid;
    if (resp.txt.has_value() && r.question.qclass == kClassChaos) r.chaos_txt = resp.txt;
  }
  if (!leg->tcp) {
    r.udp = std::move(attempt);
    if (r.udp.outcome == DnsOutcome::kAnswer && leg->response->tc) {
      r.truncated = true;
      if (options_.tcp_on_truncation && m->tcp.channel != nullptr) {
        StartLeg(m, /*tcp=*/true);
        ArmTimeoutTimer();
        return;
      }
    }
  } else {
    r.tcp = std::move(attempt);
  }
  Finish(m);
}

void DnsProber::Finish(Measurement* m) {
  --in_flight_;
  std::unique_ptr<Measurement> owned(m);
  if (owned->done) owned->done(owned->result);
}

void DnsProber::ArmTimeoutTimer() {
  if (timer_armed_ || destroying_) return;
  // ares_timeout walks every query in flight, so it is asked only when no
  // timer is armed: every query of a prober has the same timeout, so a new
  // query never has an earlier deadline than the one the timer is set for.
  std::optional<absl::Duration> earliest;
  for (auto& [key, channel] : channels_) {
    timeval tv{};
    if (ares_timeout(channel->channel, nullptr, &tv) == nullptr) continue;
    const absl::Duration d = TimevalToDuration(tv);
    if (!earliest.has_value() || d < *earliest) earliest = d;
  }
  if (!earliest.has_value()) return;
  timer_armed_ = true;
  timer_ = loop_->AddTimerAfter(*earliest, [this] { OnTimer(); });
}

void DnsProber::OnTimer() {
  timer_armed_ = false;
  for (auto& [key, channel] : channels_) {
    ares_process_fd(channel->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
  ArmTimeoutTimer();
}

void DnsProber::OnFdEvent(Channel* channel, int fd, uint32_t events) {
  const bool error = (events & (EPOLLERR | EPOLLHUP)) != 0;
  const int read_fd = ((events & EPOLLIN) != 0 || error) ? fd : ARES_SOCKET_BAD;
  const int write_fd = ((events & EPOLLOUT) != 0) ? fd : ARES_SOCKET_BAD;
  ares_process_fd(channel->channel, read_fd, write_fd);
  ArmTimeoutTimer();
}

void DnsProber::OnSockState(void* data, int fd, int readable, int writable) {
  auto* channel = static_cast<Channel*>(data);
  DnsProber* self = channel->prober;
  const uint32_t events = (readable != 0 ? EPOLLIN : 0u) | (writable != 0 ? EPOLLOUT : 0u);
  auto it = channel->watched.find(fd);
  if (events == 0) {
    if (it != channel->watched.end()) {
      self->loop_->UnwatchFd(fd);
      channel->watched.erase(it);
    }
    return;
  }
  if (it != channel->watched.end()) {
    if (it->second != events) {
      if (self->loop_->ModifyFd(fd, events).ok()) it->second = events;
    }
    return;
  }
  auto st = self->loop_->WatchFd(fd, events, [channel, fd](uint32_t fired) {
    channel->prober->OnFdEvent(channel, fd, fired);
  });
  if (st.ok()) channel->watched[fd] = events;
}

int DnsProber::AresSocket(int domain, int type, int protocol, void* data) {
  auto* channel = static_cast<Channel*>(data);
  const int fd = channel->prober->transport_->Socket(domain, type, protocol);
  if (fd >= 0) {
    Channel::SocketState state;
    state.stream = type == SOCK_STREAM;
    channel->sockets[fd] = std::move(state);
  }
  return fd;
}

int DnsProber::AresClose(int fd, void* data) {
  auto* channel = static_cast<Channel*>(data);
  channel->sockets.erase(fd);
  return channel->prober->transport_->Close(fd);
}

int DnsProber::AresConnect(int fd, const struct sockaddr* address, unsigned int length,
                           void* data) {
  auto* channel = static_cast<Channel*>(data);
  return channel->prober->transport_->Connect(fd, address, length);
}

ssize_t DnsProber::AresSendV(int fd, const struct iovec* iov, int iov_count, void* data) {
  auto* channel = static_cast<Channel*>(data);
  absl::Time sent_at;
  const ssize_t n = channel->prober->transport_->SendV(fd, iov, iov_count, &sent_at);
  if (n <= 0) return n;
  const auto stamp = [&](absl::Span<const uint8_t> message) {
    if (message.size() < 2) return;
    const uint16_t id = static_cast<uint16_t>((message[0] << 8) | message[1]);
    auto it = channel->legs_by_id.find(id);
    if (it == channel->legs_by_id.end() || it->second->sent) return;
    it->second->sent = true;
    it->second->sent_at = sent_at;
  };
  auto sit = channel->sockets.find(fd);
  if (sit == channel->sockets.end() || !sit->second.stream) {
    if (iov_count >= 1) {
      stamp(
          absl::Span<const uint8_t>(static_cast<const uint8_t*>(iov[0].iov_base), iov[0].iov_len));
    }
    return n;
  }
  // A stream write may carry several queries or parts of one.
  size_t left = static_cast<size_t>(n);
  for (int i = 0; i < iov_count && left > 0; ++i) {
    const size_t take = iov[i].iov_len < left ? iov[i].iov_len : left;
    sit->second.sent.Feed(
        absl::Span<const uint8_t>(static_cast<const uint8_t*>(iov[i].iov_base), take), stamp);
    left -= take;
  }
  return n;
}

ssize_t DnsProber::AresRecvFrom(int fd, void* buffer, size_t length, int /*flags*/,
                                struct sockaddr* from, unsigned int* from_length, void* data) {
  auto* channel = static_cast<Channel*>(data);
  auto sit = channel->sockets.find(fd);
  if (sit != channel->sockets.end() && sit->second.stream) {
    return channel->prober->ReceiveStream(channel, fd, buffer, length);
  }
  return channel->prober->ReceiveDatagram(channel, fd, buffer, length, from, from_length);
}

ssize_t DnsProber::ReceiveDatagram(Channel* channel, int fd, void* buffer, size_t length,
                                   sockaddr* from, socklen_t* from_length) {
  static thread_local std::vector<uint8_t> scratch(kMaxDatagram);
  const socklen_t from_capacity = from_length != nullptr ? *from_length : 0;
  for (int drops = 0; drops < kMaxDropsPerRead; ++drops) {
    DnsReceiveInfo info;
    if (from_length != nullptr) *from_length = from_capacity;
    const ssize_t n = transport_->RecvFrom(fd, /*datagram=*/true, scratch.data(), scratch.size(),
                                           from, from_length, &info);
    if (n < 0) return n;
    const size_t got = static_cast<size_t>(n);
    const size_t limit = options_.query.edns
                             ? std::max<size_t>(options_.query.edns_buffer_size, kClassicUdpLimit)
                             : kClassicUdpLimit;
    if (info.full_length > limit) {
      // Checked before the ID so that a flood of jumbo datagrams is named
      // for what it is.
      ++hostile_.oversized;
      continue;
    }
    if (!AcceptAnswer(channel, absl::Span<const uint8_t>(scratch.data(), got), info, true)) {
      continue;
    }
    const size_t copy = got < length ? got : length;
    std::memcpy(buffer, scratch.data(), copy);
    return static_cast<ssize_t>(copy);
  }
  errno = EAGAIN;
  return -1;
}

ssize_t DnsProber::ReceiveStream(Channel* channel, int fd, void* buffer, size_t length) {
  DnsReceiveInfo info;
  const ssize_t n =
      transport_->RecvFrom(fd, /*datagram=*/false, buffer, length, nullptr, nullptr, &info);
  if (n <= 0) return n;
  auto sit = channel->sockets.find(fd);
  if (sit == channel->sockets.end()) return n;
  sit->second.received.Feed(
      absl::Span<const uint8_t>(static_cast<const uint8_t*>(buffer), static_cast<size_t>(n)),
      [&](absl::Span<const uint8_t> message) { AcceptAnswer(channel, message, info, false); });
  return n;
}

bool DnsProber::AcceptAnswer(Channel* channel, absl::Span<const uint8_t> message,
                             const DnsReceiveInfo& info, bool /*datagram*/) {
  if (message.size() < 12) {
    ++hostile_.garbage;
    return false;
  }
  const uint16_t id = static_cast<uint16_t>((message[0] << 8) | message[1]);
  auto it = channel->legs_by_id.find(id);
  if (it == channel->legs_by_id.end()) {
    ++hostile_.wrong_id;
    return false;
  }
  Leg* leg = it->second;
  auto parsed = ParseDnsResponse(message);
  if (!parsed.ok()) {
    if (absl::IsOutOfRange(parsed.status())) {
      ++hostile_.truncated;
    } else {
      ++hostile_.garbage;
    }
    return false;
  }
  if (!parsed->question.has_value() || *parsed->question != leg->measurement->result.question) {
    ++hostile_.wrong_question;
    return false;
  }
  leg->response = *std::move(parsed);
  leg->received = info;
  return true;
}

const ares_socket_functions* DnsProber::SocketFunctions() {
  static const ares_socket_functions functions = {
      &DnsProber::AresSocket,   &DnsProber::AresClose, &DnsProber::AresConnect,
      &DnsProber::AresRecvFrom, &DnsProber::AresSendV,
  };
  return &functions;
}

}  // namespace vantage::resolver
