// JSON snapshot of an AnycastGraph: what `vantagectl optimize --input` reads
// and what the collector can dump. Export then import gives back an equal
// graph (doubles are written with enough digits to round-trip exactly; times
// are integer nanoseconds). Import validates everything and never throws.
//
// Format "vantage.snapshot.v1" (example: graph/testdata/lab_snapshot.json):
//
//   {
//     "format": "vantage.snapshot.v1",
//     "snapshot_time_unix_ns": 1700000000000000000,   // the `now` for freshness
//     "freshness": {"half_life_s": 300, "expiry_s": 900},          // optional
//     "pops": [
//       {"name": "ams", "capacity": 1000.0, "healthy": true,     // healthy, load,
//        "load": 420.0, "latitude": 52.37, "longitude": 4.9}     // lat/lon optional
//     ],
//     "regions": [
//       {"name": "nl", "demand": 300.0, "prefixes": ["198.18.0.0/24"],
//        "current_weights": {"ams": 0.75, "fra": 0.25},           // optional
//        "latitude": 52.1, "longitude": 5.1}                      // optional
//     ],
//     "paths": [            // PoP -> region; a pair not listed is a MISSING path
//       {"pop": "ams", "region": "nl", "catchment": "ams",        // catchment optional
//        "measurements": [
//          {"method": "icmp",             // icmp | tcp | stamp | passive | dns
//           "rtt_p50_ms": 4.1, "rtt_p90_ms": 5.0, "rtt_p99_ms": 9.5,
//           "loss": 0.001,                // fraction in [0, 1]
//           "dns_ms": 6.2,                // optional
//           "samples": 600,
//           "updated_unix_ns": 1699999990000000000}]}
//     ]
//   }
//
// Units: capacity, load and demand share one traffic unit (e.g. Mbit/s).
// Unknown keys are errors (a typo must not silently drop data).
//
// Thread model: free functions without shared state.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "graph/anycast_graph.h"

namespace vantage::graph {

inline constexpr absl::string_view kSnapshotFormat = "vantage.snapshot.v1";

// `indent` < 0 writes one line.
std::string SnapshotToJson(const AnycastGraph& graph, int indent = 2);
absl::StatusOr<AnycastGraph> SnapshotFromJson(absl::string_view json);
absl::StatusOr<AnycastGraph> ReadSnapshotFile(const std::string& path);
absl::Status WriteSnapshotFile(const AnycastGraph& graph, const std::string& path);

}  // namespace vantage::graph
