#include "lab/tun_tap.h"

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"

namespace vantage::lab {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::Time Now(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return absl::TimeFromTimespec(ts);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TunTap>> TunTap::Open(int ifindex, Direction direction) {
  // Protocol 0: no packet is queued before the filter is attached and the
  // socket bound to the device.
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket(AF_PACKET)");
  std::unique_ptr<TunTap> tap(new TunTap(fd));
  // One direction only (outgoing: the ones the node transmits; incoming:
  // everything else), cut to the head.
  const bool outgoing = direction == Direction::kOutgoing;
  const uint8_t on_outgoing = outgoing ? 0 : 1;  // jump offsets: 0 keeps, 1 drops
  const uint8_t on_incoming = outgoing ? 1 : 0;
  std::array<sock_filter, 4> code = {{
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PKTTYPE)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, on_outgoing, on_incoming),
      BPF_STMT(BPF_RET | BPF_K, static_cast<uint32_t>(TxTimestampMatcher::kHeadBytes)),
      BPF_STMT(BPF_RET | BPF_K, 0),
  }};
  sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof(program)) != 0) {
    return Errno("SO_ATTACH_FILTER");
  }
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0) {
    return Errno("SO_TIMESTAMPNS");
  }
  const int buffer = 1 << 20;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return Errno("bind(AF_PACKET)");
  }
  return tap;
}

TunTap::~TunTap() { close(fd_); }

std::optional<TappedPacket> TunTap::Read() {
  std::array<uint8_t, TxTimestampMatcher::kHeadBytes> head{};
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(timespec))> control{};
  iovec iov{head.data(), head.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n = -1;
  do {
    n = recvmsg(fd_, &msg, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return std::nullopt;
  std::optional<absl::Time> stamped;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof(ts));
      stamped = absl::TimeFromTimespec(ts);
    }
  }
  // The kernel stamps with the wall clock; the emulator runs on the
  // monotonic one. The packet's age carries over between the two.
  const absl::Time mono = Now(CLOCK_MONOTONIC);
  const absl::Time real = Now(CLOCK_REALTIME);
  TappedPacket p;
  p.stamped = stamped ? mono - (real - *stamped) : mono;
  p.head.assign(head.begin(), head.begin() + n);
  return p;
}

}  // namespace vantage::lab
