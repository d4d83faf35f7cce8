#include "resolver/dns_probe_config.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vantage::resolver {

absl::Status DnsProbeConfig::Validate() const {
  std::vector<std::string> problems;
  if (servers.empty()) problems.push_back("servers: at least one server is required");
  for (const Endpoint& s : servers) {
    if (s.port() == 0) problems.push_back(absl::StrCat("servers: ", s.ToString(), " has port 0"));
  }
  if (names.empty()) problems.push_back("names: at least one name is required");
  for (const std::string& n : names) {
    if (auto st = NormalizeDnsName(n); !st.ok()) {
      problems.push_back(absl::StrCat("names: ", st.status().message()));
    }
  }
  if (types.empty()) problems.push_back("types: at least one type is required");
  if (interval < absl::Milliseconds(10)) problems.push_back("interval: must be at least 10ms");
  if (jitter < absl::ZeroDuration() || jitter >= interval) {
    problems.push_back("jitter: must be in [0, interval)");
  }
  if (timeout < absl::Milliseconds(1) || timeout > absl::Seconds(60)) {
    problems.push_back("timeout: must be in [1ms, 60s]");
  }
  if (edns && edns_buffer_size < 512) problems.push_back("edns_buffer_size: must be >= 512");
  if (nsid && !edns) problems.push_back("nsid: needs edns");
  if (window < interval) problems.push_back("window: must be at least the interval");
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
}

DnsProberOptions DnsProbeConfig::ProberOptions() const {
  DnsProberOptions o;
  o.timeout = timeout;
  o.query.edns = edns;
  o.query.edns_buffer_size = edns_buffer_size;
  o.query.nsid = nsid;
  o.query.recursion_desired = recursion_desired;
  o.tcp_on_truncation = tcp_on_truncation;
  return o;
}

}  // namespace vantage::resolver
