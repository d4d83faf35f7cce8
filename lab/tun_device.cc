#include "lab/tun_device.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lab/tun_packet_device.h"
#include "lab/tun_tap.h"

namespace vantage::lab {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PacketDevice>> OpenTunInNamespace(const std::string& netns,
                                                                 const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("bad interface name '", ifname, "'"));
  }
  const int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0) return Errno("open /proc/self/ns/net");
  const std::string path = absl::StrCat("/run/netns/", netns);
  const int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    auto st = Errno(absl::StrCat("open ", path));
    close(own);
    return st;
  }
  if (setns(target, CLONE_NEWNET) != 0) {
    auto st = Errno(absl::StrCat("setns ", netns));
    close(own);
    close(target);
    return st;
  }
  absl::Status status;
  const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    status = Errno("open /dev/net/tun");
  } else {
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) status = Errno(absl::StrCat("TUNSETIFF in ", netns));
  }
  // The transmit and receive taps, opened in the same namespace (where the
  // device is).
  std::unique_ptr<TunTap> tx_tap;
  std::unique_ptr<TunTap> rx_tap;
  if (status.ok()) {
    const unsigned int ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) {
      status = Errno(absl::StrCat("if_nametoindex ", ifname, " in ", netns));
    } else {
      absl::StatusOr<std::unique_ptr<TunTap>> tx =
          TunTap::Open(static_cast<int>(ifindex), TunTap::Direction::kOutgoing);
      absl::StatusOr<std::unique_ptr<TunTap>> rx =
          TunTap::Open(static_cast<int>(ifindex), TunTap::Direction::kIncoming);
      if (!tx.ok()) {
        status = tx.status();
      } else if (!rx.ok()) {
        status = rx.status();
      } else {
        tx_tap = std::move(*tx);
        rx_tap = std::move(*rx);
      }
    }
  }
  // Staying in the lab's namespace would make every later socket of this
  // thread land there: an impossible state to continue from.
  if (setns(own, CLONE_NEWNET) != 0) {
    std::perror("setns back to the original network namespace");
    std::abort();
  }
  close(own);
  close(target);
  if (!status.ok()) {
    if (fd >= 0) close(fd);
    return status;
  }
  return std::unique_ptr<PacketDevice>(
      new TunPacketDevice(fd, std::move(tx_tap), std::move(rx_tap)));
}

}  // namespace vantage::lab
