// ReportStore: the collector's durable storage of probe reports, in SQLite.
//
// Layout (schema v2): one row per report in `reports` (its id is the
// idempotency key; probe, PoP, window bounds, number of series) and one row
// per report in `windows` (`seq` = arrival order, the serialized ProbeReport
// as `body`). Storing a report costs two row inserts, not one per series:
// a report of 100 targets is one write, not 101. History per target is read
// by decoding the bodies of a probe's or PoP's windows (reports_by_probe,
// reports_by_end select them); the latest window per target is kept in
// memory by CollectorState. Rows stored by schema v1 (one row per series in
// the table `series`) stay readable there and expire normally. WAL journal, and
// synchronous=FULL so that a committed batch survives a power cut, not only a
// process crash: the collector acks a report only after StoreBatch returns.
// Batches amortise the fsync (group commit).
//
// Checkpoints: the writer connection does not checkpoint the WAL itself
// (that would stall a commit, and so every ack in its batch, while pages are
// copied into the database file and it is fsynced). A second connection on
// its own thread runs PASSIVE checkpoints (they never block the writer)
// every kCheckpointInterval; the writer still checkpoints itself if the
// WAL grows past kWalSafetyPages (the checkpointer stuck or starved).
//
// Schema changes are numbered migrations applied in order at Open(); a
// database newer than this binary is refused.
//
// Thread model: not thread-safe. The collector owns one ReportStore on its
// single writer thread (SQLite is used in one-writer mode); the
// checkpointer thread is internal.
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/vantage.pb.h"

namespace vantage::collector {

class ReportStore {
 public:
  enum class Outcome { kStored, kDuplicate };

  static constexpr int kSchemaVersion = 2;
  static constexpr absl::Duration kCheckpointInterval = absl::Milliseconds(500);
  static constexpr int kWalSafetyPages = 65536;  // 256 MiB of 4 KiB pages

  static absl::StatusOr<std::unique_ptr<ReportStore>> Open(const std::string& path);
  ~ReportStore();
  ReportStore(const ReportStore&) = delete;
  ReportStore& operator=(const ReportStore&) = delete;

  // Stores every report in one transaction; on success the batch is durable
  // and the result says, per report in order, whether it was new or a
  // duplicate of an earlier report id. On error nothing was stored.
  // `bodies`, when given, holds each report already serialized (stored as
  // is, saving the writer the serialization).
  absl::StatusOr<std::vector<Outcome>> StoreBatch(
      const std::vector<const v1::ProbeReport*>& reports, absl::Time received_at,
      const std::vector<const std::string*>& bodies = {});

  // Deletes windows (and their reports) that ended before `cutoff`; returns
  // the number of series (target/prefix/DNS windows) deleted.
  absl::StatusOr<int64_t> ExpireBefore(absl::Time cutoff);

  absl::StatusOr<int64_t> CountReports();
  // Series (target/prefix/DNS windows) held in the stored reports.
  absl::StatusOr<int64_t> CountSeries();
  // Bytes used by the database file (page_count * page_size).
  absl::StatusOr<int64_t> SizeBytes();
  // Report ids of one probe, in window order (for tests and audits).
  absl::StatusOr<std::vector<std::string>> ReportIdsOfProbe(const std::string& probe_id);

  int schema_version() const { return kSchemaVersion; }

 private:
  explicit ReportStore(sqlite3* db);
  void RunCheckpointer(sqlite3* db);
  absl::Status Migrate();
  absl::Status Exec(const char* sql);
  absl::StatusOr<int64_t> QueryInt(const char* sql);
  absl::Status Prepare();

  sqlite3* db_;
  sqlite3_stmt* insert_report_ = nullptr;
  sqlite3_stmt* insert_window_ = nullptr;
  int64_t next_seq_ = 1;  // of the next row of `windows`
  std::string body_;      // serialization buffer, reused

  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_stop_ = false;
  std::thread checkpointer_;
};

}  // namespace vantage::collector
