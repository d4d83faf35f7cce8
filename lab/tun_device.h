// OpenTunInNamespace: creates a TUN device (raw IP, no packet-info header)
// inside a named network namespace (/run/netns/<name>) and returns it as a
// PacketDevice held by this process, which stays in its own namespace. The
// device disappears when the descriptor is closed, e.g. when the process dies.
//
// Thread model: switches the calling thread's network namespace for the
// duration of the call and back; call it before other threads use sockets
// on this thread's behalf. Needs CAP_SYS_ADMIN and CAP_NET_ADMIN.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "lab/packet_device.h"

namespace vantage::lab {

absl::StatusOr<std::unique_ptr<PacketDevice>> OpenTunInNamespace(const std::string& netns,
                                                                 const std::string& ifname);

}  // namespace vantage::lab
