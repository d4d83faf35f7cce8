#include "lab/tun_tap.h"

#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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
  // Timestamps on: the kernel then stamps every packet where it enters or
  // leaves the stack (net_timestamp_check), not when the tap gets it.
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) != 0) {
    return Errno("SO_TIMESTAMPNS");
  }
  // A TPACKET_V2 ring: each frame is handed over as soon as it is filled
  // (V3 hands over whole blocks, late), and reading it needs no system call.
  const int version = TPACKET_V2;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof(version)) != 0) {
    return Errno("PACKET_VERSION");
  }
  tpacket_req request{};
  request.tp_block_size = kBlockSize;
  request.tp_frame_size = kFrameSize;
  request.tp_block_nr = kFrames / (kBlockSize / kFrameSize);
  request.tp_frame_nr = kFrames;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &request, sizeof(request)) != 0) {
    return Errno("PACKET_RX_RING");
  }
  void* ring = mmap(nullptr, kRingBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) return Errno("mmap(PACKET_RX_RING)");
  tap->ring_ = static_cast<uint8_t*>(ring);
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return Errno("bind(AF_PACKET)");
  }
  return tap;
}

TunTap::~TunTap() {
  if (ring_ != nullptr) munmap(ring_, kRingBytes);
  close(fd_);
}

std::optional<TappedPacket> TunTap::Read() {
  auto* frame = reinterpret_cast<tpacket2_hdr*>(ring_ + next_ * kFrameSize);
  // The kernel fills the frame, then sets TP_STATUS_USER: acquire.
  if ((__atomic_load_n(&frame->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0) {
    return std::nullopt;
  }
  // The kernel stamps with the wall clock; the emulator runs on the
  // monotonic one. The packet's age carries over between the two.
  const absl::Time stamped =
      absl::TimeFromTimespec(timespec{static_cast<time_t>(frame->tp_sec), frame->tp_nsec});
  const absl::Time mono = Now(CLOCK_MONOTONIC);
  const absl::Time real = Now(CLOCK_REALTIME);
  TappedPacket p;
  p.stamped = mono - (real - stamped);
  const uint8_t* data = reinterpret_cast<const uint8_t*>(frame) + frame->tp_mac;
  p.head.assign(data, data + std::min<size_t>(frame->tp_snaplen, TxTimestampMatcher::kHeadBytes));
  // Hand the frame back.
  __atomic_store_n(&frame->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  next_ = (next_ + 1) % kFrames;
  return p;
}

}  // namespace vantage::lab
