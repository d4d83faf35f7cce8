#include "lab/nsd_config.h"

#include "absl/strings/str_cat.h"

namespace vantage::lab {

std::string NsdZoneFileName(const ServiceOptions& services) {
  return absl::StrCat(services.dns_zone, ".zone");
}

std::string MakeNsdConfig(const Pop& pop, const ServiceOptions& services, const std::string& dir) {
  std::string conf = "# Written by vantage-lab; removed by vantage-lab down.\nserver:\n";
  for (const IpAddress& a : pop.services) {
    absl::StrAppend(&conf, "  ip-address: ", a.ToString(), "\n");
  }
  absl::StrAppend(&conf, "  port: ", services.dns_port, "\n",
                  "  username: \"\"\n"
                  "  chroot: \"\"\n"
                  "  database: \"\"\n",
                  "  zonesdir: \"", dir, "\"\n", "  pidfile: \"", dir, "/nsd.pid\"\n",
                  "  xfrdfile: \"", dir, "/xfrd.state\"\n", "  zonelistfile: \"", dir,
                  "/zone.list\"\n", "  logfile: \"", dir, "/nsd.log\"\n", "  nsid: \"ascii_",
                  pop.name, "\"\n", "  identity: \"", pop.name, "\"\n",
                  "  rrl-ratelimit: 0\n"
                  "  server-count: 1\n"
                  "  verbosity: 1\n"
                  "remote-control:\n"
                  "  control-enable: no\n"
                  "zone:\n",
                  "  name: \"", services.dns_zone, "\"\n", "  zonefile: \"", dir, "/",
                  NsdZoneFileName(services), "\"\n");
  return conf;
}

std::string MakeNsdZone(const Pop& pop, const ServiceOptions& services) {
  std::string zone = absl::StrCat("$ORIGIN ", services.dns_zone, ".\n$TTL 60\n",
                                  "@ IN SOA ns hostmaster 1 3600 600 86400 60\n", "@ IN NS ns\n");
  for (const IpAddress& a : pop.services) {
    absl::StrAppend(&zone, "ns IN ", a.is_v4() ? "A" : "AAAA", " ", a.ToString(), "\n");
    absl::StrAppend(&zone, "www IN ", a.is_v4() ? "A" : "AAAA", " ", a.ToString(), "\n");
  }
  absl::StrAppend(&zone, "pop IN TXT \"", pop.name, "\"\n");
  return zone;
}

}  // namespace vantage::lab
