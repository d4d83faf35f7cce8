// RunTcpProbeListener: the small TCP service every PoP runs for TCP probes.
// It accepts connections on the given addresses and port, writes one line
// naming the PoP ("vantage-lab <pop>\n") and closes. Runs until SIGTERM (the
// default action ends the process) or until an error.
//
// Thread model: blocks the calling thread; meant as a process of its own
// (`vantage-lab tcp-listen`, started inside the PoP's namespace).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/ip_address.h"

namespace vantage::lab {

// Binds all addresses, then creates `ready_file` (if not empty) so a
// supervisor knows the listener is up, then serves.
[[nodiscard]] absl::Status RunTcpProbeListener(const std::vector<IpAddress>& addresses,
                                               uint16_t port, const std::string& pop_name,
                                               const std::string& ready_file);

}  // namespace vantage::lab
