#include "probe/raw_socket_probe_sender.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace vantage::probe {
namespace {

absl::Status Errno(absl::string_view what) {
  const int e = errno;
  const std::string message = absl::StrCat(what, ": ", std::strerror(e));
  if (e == EPERM || e == EACCES) {
    return absl::PermissionDeniedError(
        absl::StrCat(message,
                     " (active probing needs CAP_NET_RAW: run as root or grant it with "
                     "`setcap cap_net_raw+ep <binary>`)"));
  }
  return absl::InternalError(message);
}

// A classic BPF program "ret #0": the socket accepts nothing.
absl::Status DropEverything(int fd) {
  static sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 0}};
  sock_fprog program{1, code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) != 0) {
    return Errno("SO_ATTACH_FILTER");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> OpenRaw(int family, int protocol) {
  const int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    return Errno(absl::StrCat("socket(", family == AF_INET ? "AF_INET" : "AF_INET6", ", SOCK_RAW, ",
                              protocol, ")"));
  }
  if (auto s = DropEverything(fd); !s.ok()) {
    close(fd);
    return s;
  }
  // Large send buffers let bursts leave without EAGAIN.
  int size = 4 << 20;
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  if (family == AF_INET) {
    // DF on: the kernel then sets IP ID 0 instead of hashing one per packet.
    int probe = IP_PMTUDISC_PROBE;
    (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof(probe));
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawSocketProbeSender>> RawSocketProbeSender::Create() {
  std::unique_ptr<RawSocketProbeSender> s(new RawSocketProbeSender());
  auto icmp4 = OpenRaw(AF_INET, IPPROTO_ICMP);
  if (!icmp4.ok()) return icmp4.status();
  s->icmp4_ = *icmp4;
  auto icmp6 = OpenRaw(AF_INET6, IPPROTO_ICMPV6);
  if (!icmp6.ok()) return icmp6.status();
  s->icmp6_ = *icmp6;
  // ICMP type filters are checked before the kernel clones a packet for a
  // raw socket (the BPF filter only after): blocking every type saves a copy
  // of each echo reply.
  icmp_filter block4{~0u};
  if (setsockopt(s->icmp4_, SOL_RAW, ICMP_FILTER, &block4, sizeof(block4)) != 0) {
    return Errno("ICMP_FILTER");
  }
  icmp6_filter block6{};
  ICMP6_FILTER_SETBLOCKALL(&block6);
  if (setsockopt(s->icmp6_, IPPROTO_ICMPV6, ICMP6_FILTER, &block6, sizeof(block6)) != 0) {
    return Errno("ICMP6_FILTER");
  }
  auto tcp4 = OpenRaw(AF_INET, IPPROTO_TCP);
  if (!tcp4.ok()) return tcp4.status();
  s->tcp4_ = *tcp4;
  auto tcp6 = OpenRaw(AF_INET6, IPPROTO_TCP);
  if (!tcp6.ok()) return tcp6.status();
  s->tcp6_ = *tcp6;
  return s;
}

RawSocketProbeSender::~RawSocketProbeSender() {
  for (int fd : {icmp4_, icmp6_, tcp4_, tcp6_}) {
    if (fd >= 0) close(fd);
  }
  for (int fd : udp_) close(fd);
}

absl::StatusOr<IpAddress> RawSocketProbeSender::SourceAddressFor(const IpAddress& destination) {
  const int family = destination.is_v4() ? AF_INET : AF_INET6;
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket(SOCK_DGRAM)");
  sockaddr_storage ss{};
  const socklen_t len = Endpoint(destination, 9).ToSockaddr(&ss);
  // connect() on UDP only consults the routing table; nothing is sent.
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    auto status = Errno(absl::StrCat("no route to ", destination.ToString()));
    close(fd);
    return status;
  }
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  const int rc = getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
  close(fd);
  if (rc != 0) return Errno("getsockname");
  auto endpoint = Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&local));
  if (!endpoint.ok()) return endpoint.status();
  return endpoint->address();
}

absl::StatusOr<std::vector<uint16_t>> RawSocketProbeSender::OpenStampSockets(int flows) {
  std::vector<uint16_t> ports;
  for (int f = 0; f < flows; ++f) {
    const int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Errno("socket(AF_INET6, SOCK_DGRAM)");
    udp_.push_back(fd);
    int zero = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0) {
      return Errno("IPV6_V6ONLY");
    }
    sockaddr_in6 any{};
    any.sin6_family = AF_INET6;
    any.sin6_addr = in6addr_any;
    if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0) return Errno("bind");
    VANTAGE_RETURN_IF_ERROR(DropEverything(fd));
    socklen_t len = sizeof(any);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&any), &len) != 0) return Errno("getsockname");
    ports.push_back(ntohs(any.sin6_port));
  }
  return ports;
}

bool RawSocketProbeSender::Address(const IpAddress& destination, const ProbePacket& packet,
                                   int flow, int* fd, sockaddr_storage* ss, socklen_t* len) const {
  if (packet.protocol == IPPROTO_UDP) {
    if (flow < 0 || static_cast<size_t>(flow) >= udp_.size()) return false;
    *fd = udp_[static_cast<size_t>(flow)];
    // The flow sockets are AF_INET6: IPv4 destinations go as v4-mapped.
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(packet.destination_port);
    if (destination.is_v4()) {
      sin6.sin6_addr.s6_addr[10] = 0xff;
      sin6.sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&sin6.sin6_addr.s6_addr[12], destination.bytes(), 4);
    } else {
      std::memcpy(&sin6.sin6_addr, destination.bytes(), 16);
    }
    std::memcpy(ss, &sin6, sizeof(sin6));
    *len = sizeof(sin6);
    return true;
  }
  // Raw sockets take no port: sin_port/sin6_port must be 0 (for IPv6 raw
  // sockets a non-zero port is rejected).
  *len = Endpoint(destination, 0).ToSockaddr(ss);
  if (packet.protocol == IPPROTO_TCP) {
    *fd = destination.is_v4() ? tcp4_ : tcp6_;
  } else {
    *fd = destination.is_v4() ? icmp4_ : icmp6_;
  }
  return true;
}

absl::Status RawSocketProbeSender::Send(const IpAddress& destination, const ProbePacket& packet,
                                        int flow) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int fd = -1;
  if (!Address(destination, packet, flow, &fd, &ss, &len)) {
    return absl::FailedPreconditionError("STAMP probe without its flow socket");
  }
  const ssize_t n =
      sendto(fd, packet.bytes.data(), packet.length, 0, reinterpret_cast<sockaddr*>(&ss), len);
  if (n < 0) return Errno(absl::StrCat("sendto ", destination.ToString()));
  return absl::OkStatus();
}

size_t RawSocketProbeSender::SendBatch(absl::Span<const OutgoingProbe> probes,
                                       absl::Span<bool> ok) {
  constexpr size_t kMaxBatch = 64;
  std::array<mmsghdr, kMaxBatch> messages;
  std::array<iovec, kMaxBatch> iov;
  std::array<sockaddr_storage, kMaxBatch> addresses;
  size_t sent = 0;
  size_t i = 0;
  while (i < probes.size()) {
    // A run of probes for one socket, at most kMaxBatch long.
    int fd = -1;
    size_t n = 0;
    while (i + n < probes.size() && n < kMaxBatch) {
      const OutgoingProbe& p = probes[i + n];
      int probe_fd = -1;
      socklen_t len = 0;
      if (!Address(*p.destination, p.packet, p.flow, &probe_fd, &addresses[n], &len)) break;
      if (n > 0 && probe_fd != fd) break;
      fd = probe_fd;
      iov[n] = iovec{const_cast<uint8_t*>(p.packet.bytes.data()), p.packet.length};
      messages[n] = mmsghdr{};
      messages[n].msg_hdr.msg_name = &addresses[n];
      messages[n].msg_hdr.msg_namelen = len;
      messages[n].msg_hdr.msg_iov = &iov[n];
      messages[n].msg_hdr.msg_iovlen = 1;
      ++n;
    }
    if (n == 0) {  // no socket for this probe
      ok[i++] = false;
      continue;
    }
    const int rc = sendmmsg(fd, messages.data(), static_cast<unsigned>(n), 0);
    if (rc <= 0) {  // the first of the run failed; the rest go in the next call
      if (rc < 0 && errno == EINTR) continue;
      ok[i++] = false;
      continue;
    }
    for (int k = 0; k < rc; ++k) ok[i + static_cast<size_t>(k)] = true;
    i += static_cast<size_t>(rc);
    sent += static_cast<size_t>(rc);
  }
  return sent;
}

}  // namespace vantage::probe
