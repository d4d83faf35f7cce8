// ProbeConfig: everything `vantage-probe` is configured with, read from YAML
// strictly: unknown keys, wrong types and bad values are errors naming
// file:line:column. Every option has a default a lab run accepts (an empty
// file gives a probe that measures nothing but still reports windows).
//
// Sections: identity, user, collector, spool, window, metrics_listen, active,
// passive, dns, stamp_reflector — see probe/examples/probe.yaml.
//
// Thread model: a value type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/ip_address.h"
#include "probe/exporter.h"
#include "probe/probe_target.h"
#include "resolver/dns_probe_config.h"

namespace vantage::probe {

struct ActiveTargetConfig {
  IpAddress address;
  std::vector<ProbeMethodSpec> methods;    // at least one
  std::optional<absl::Duration> interval;  // ActiveConfig::interval when absent
};

struct ActiveConfig {
  std::vector<ActiveTargetConfig> targets;  // none: the active prober is off
  absl::Duration interval = absl::Seconds(1);
  int count = 1;       // probes per round and target
  int flows = 1;       // stable flows per target
  double rate = 1000;  // global ceiling, probes per second
  absl::Duration timeout = absl::Seconds(1);
  std::string interface;  // capture interface; empty: from the routes to each target

  friend bool operator==(const ActiveConfig& a, const ActiveConfig& b);
};

struct PassiveConfig {
  std::string interface;  // empty: passive RTT is off
  std::vector<Prefix> local_prefixes;
  std::vector<uint16_t> local_ports;
  int prefix_length_v4 = 24;           // at most 24
  int prefix_length_v6 = 48;           // at most 48
  std::string anonymization_key_file;  // 32 bytes; empty: prefixes, not pseudonyms
};

struct StampReflectorConfig {
  bool enabled = false;
  std::optional<IpAddress> address;  // none: all addresses
  uint16_t port = 862;
};

struct ProbeConfig {
  std::string probe_id = "probe-1";
  std::string pop = "lab";
  // Drop root to this user (keeping CAP_NET_RAW and CAP_NET_ADMIN) once the
  // sockets and captures are open; empty: keep running as started.
  std::string user;
  ExporterOptions collector;
  std::string spool_dir = "/var/lib/vantage-probe/spool";
  uint64_t spool_max_bytes = 256ull << 20;
  absl::Duration window = absl::Seconds(10);
  std::string metrics_listen = "127.0.0.1:9464";  // empty: no /metrics
  ActiveConfig active;
  PassiveConfig passive;
  // `servers` empty: the DNS prober is off. `window` is unused (the probe's
  // window rules).
  resolver::DnsProbeConfig dns;
  StampReflectorConfig stamp_reflector;

  static absl::StatusOr<ProbeConfig> Load(const std::string& path);
  // `name` stands in for the file name in errors.
  static absl::StatusOr<ProbeConfig> Parse(const std::string& yaml, const std::string& name);
};

}  // namespace vantage::probe
