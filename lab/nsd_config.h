// The configuration and zone of the nsd that `up` starts in each PoP: it
// answers on the PoP's anycast service addresses with an NSID naming the PoP,
// runs unprivileged-style (no user switch, no database, private pid, xfrd and
// zone list files in its own directory) and with response rate limiting off.
//
// Thread model: pure functions.
#pragma once

#include <string>

#include "lab/topology.h"

namespace vantage::lab {

// nsd.conf for `pop`, keeping every file nsd writes under `dir`.
std::string MakeNsdConfig(const Pop& pop, const ServiceOptions& services, const std::string& dir);
// The zone file text for services.dns_zone as `pop` serves it.
std::string MakeNsdZone(const Pop& pop, const ServiceOptions& services);
// The zone file's name inside the PoP's nsd directory.
std::string NsdZoneFileName(const ServiceOptions& services);

}  // namespace vantage::lab
