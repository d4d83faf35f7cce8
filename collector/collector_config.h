// CollectorConfig: vantage-collector's YAML configuration, validated
// strictly (unknown keys and bad values are errors with file:line:column).
// Every option has a default a lab run accepts, except the TLS files and the
// probe list, which a deployment must name.
//
//   listen: "127.0.0.1:7443"           # gRPC (mutual TLS)
//   metrics_listen: "127.0.0.1:9464"   # Prometheus /metrics; "" disables
//   database: "collector.db"           # SQLite file
//   retention: 7d                      # raw windows expire after this
//   max_message_bytes: 16777216
//   tls:
//     cert: collector.crt              # server certificate (PEM)
//     key: collector.key
//     client_ca: ca.crt                # CA that signs probe certificates
//   probes:                            # certificate CN -> PoP
//     - {id: probe-ams-1, pop: ams}
//   operators: [noc-vantagectl]        # certificate CNs allowed to query (vantagectl
//                                      # status/latest); absent: any client certificate
//                                      # from client_ca may query. Probes may not be
//                                      # operators (a probe's key reads nothing).
//   control:                           # optional: the closed loop (ControlLoop)
//     adapter: {type: exabgp, socket: /run/vantage/exabgp.sock}
//     period: 30s
//     pops: [...]                      # capacity, BGP neighbor, next hops
//     regions: [...]                   # demand, target prefixes, service prefixes
//     guardrails: {...}
//   The `control` keys are PushModel's (collector/push_model.h); `adapter`
//   is required there. Without `control` the collector only stores.
//
// Thread model: a plain value.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "collector/push_model.h"
#include "collector/report_validator.h"
#include "core/ip_address.h"

namespace vantage::collector {

struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;  // for a server: the client CA; for a client: the server CA
};

struct CollectorConfig {
  Endpoint listen = Endpoint(IpAddress::V4(0x7F000001), 7443);
  std::string metrics_listen = "127.0.0.1:9464";
  std::string database = "collector.db";
  int max_message_bytes = 16 << 20;
  TlsFiles tls;
  absl::flat_hash_map<std::string, std::string> probe_pops;
  std::vector<std::string> operators;  // empty: any CA-signed client may query
  ValidationLimits limits;
  std::optional<PushModel> control;

  static absl::StatusOr<CollectorConfig> Load(const std::string& path);
  static absl::StatusOr<CollectorConfig> Parse(const std::string& yaml, const std::string& name);
};

// Reads a whole (PEM) file, with a clear error.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace vantage::collector
