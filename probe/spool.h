// Spool: the probe's on-disk buffer of closed windows not yet acknowledged
// by the collector. A window is written before anything tries to send it,
// and removed only when the collector says it is durably stored (or will
// never be), so neither a collector outage nor a probe crash loses it.
//
// On disk: one file per window, `<seq>.rec`, written once and never changed
// (write to a temp name, fsync, rename, fsync the directory): header magic
// "VSPL", format version, sequence number, payload length and a CRC-32C over
// sequence and payload. Sequence numbers grow across restarts, so replay
// order is window order. A record that fails its checksum or is truncated
// is skipped, counted and deleted — the rest are still replayed.
//
// Size cap: when the spool would exceed `max_bytes`, the oldest records are
// dropped and counted (the newest data is the most useful to a control
// loop).
//
// Thread model: thread-safe (the measurement loop appends, the exporter
// reads and removes).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vantage::probe {

struct SpoolRecord {
  uint64_t seq = 0;
  std::string payload;
};

struct SpoolStats {
  uint64_t records = 0;  // waiting now
  uint64_t bytes = 0;    // on disk now
  uint64_t appended = 0;
  uint64_t removed = 0;       // acknowledged
  uint64_t dropped_full = 0;  // dropped for the size cap
  uint64_t corrupt = 0;       // failed checksum / truncated, skipped
};

class Spool {
 public:
  static absl::StatusOr<std::unique_ptr<Spool>> Open(const std::string& dir, uint64_t max_bytes);

  // Durably appends one window; returns its sequence number.
  absl::StatusOr<uint64_t> Append(const std::string& payload);
  // The oldest valid record with seq > `after` (corrupt ones are skipped,
  // counted and deleted on the way), or nullopt.
  std::optional<SpoolRecord> Next(uint64_t after);
  // Forgets a record (acknowledged). Removing an unknown seq is a no-op.
  absl::Status Remove(uint64_t seq);

  SpoolStats Stats() const;
  const std::string& dir() const { return dir_; }
  // A new size cap (config reload); applies from the next Append.
  void SetMaxBytes(uint64_t max_bytes);

 private:
  Spool(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  std::string PathOf(uint64_t seq) const;
  void DropLocked(uint64_t seq);

  const std::string dir_;
  mutable std::mutex mu_;
  uint64_t max_bytes_;  // guarded by mu_
  // seq -> file size, ascending.
  std::vector<std::pair<uint64_t, uint64_t>> index_;
  uint64_t next_seq_ = 1;
  SpoolStats stats_;
};

// CRC-32C (Castagnoli), as used by the spool's records.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace vantage::probe
