// CollectorState: what the collector knows right now, in memory — counters
// for /metrics and `vantagectl status`, which probes are connected, and the
// latest window per (PoP, kind, key, method) for the graph model.
//
// Thread model: thread-safe. gRPC callback threads record connections and
// rejects; the ingest writer thread records stored reports; query and
// metrics threads read snapshots.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "collector/report_validator.h"
#include "core/quantile_sketch.h"
#include "proto/vantage.pb.h"

namespace vantage::collector {

enum class SeriesKind { kActive = 1, kPassive = 2, kDns = 3 };

struct SeriesKey {
  std::string pop;
  SeriesKind kind;
  std::string key;  // target, client prefix, or "server|qname|qtype"
  int method;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads the defaulted <=>
  auto operator<=>(const SeriesKey&) const = default;
};

struct LatestSeries {
  absl::Time window_end;
  std::string probe_id;
  std::string body;  // the serialized *Series message
};

struct ProbeSnapshot {
  std::string probe_id;
  std::string pop;
  int streams = 0;
  absl::Time last_report = absl::InfinitePast();
  uint64_t reports = 0;
};

class CollectorState {
 public:
  explicit CollectorState(const absl::flat_hash_map<std::string, std::string>& probe_pops);

  void StreamOpened(const std::string& probe_id);
  void StreamClosed(const std::string& probe_id);
  void RecordReject(RejectReason reason);
  void RecordDuplicate();
  // A report is durable: counts it, updates the latest series, and records
  // the delay from window end to durable storage.
  void RecordStored(const v1::ProbeReport& report, absl::Time stored_at);

  std::vector<ProbeSnapshot> Probes() const;
  std::map<std::string, uint64_t> Rejects() const;
  uint64_t reports_stored() const { return stored_.load(); }
  uint64_t series_stored() const { return series_stored_.load(); }
  uint64_t duplicates() const { return duplicates_.load(); }
  // Seconds from window end to durable storage, over every stored report.
  QuantileSketch StorageDelay() const;
  std::map<SeriesKey, LatestSeries> Latest() const;

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, ProbeSnapshot> probes_;
  std::map<RejectReason, uint64_t> rejects_;
  std::map<SeriesKey, LatestSeries> latest_;
  SeriesKey scratch_key_{"", SeriesKind::kActive, "", 0};  // RecordStored's lookup key
  QuantileSketch storage_delay_s_;
  std::atomic<uint64_t> stored_{0};
  std::atomic<uint64_t> series_stored_{0};
  std::atomic<uint64_t> duplicates_{0};
};

}  // namespace vantage::collector
