// AuditLog: every push attempt, in a SQLite table `push_audit` (in the
// collector's database file or a file of its own: the table is independent
// of the collector's tables). Records time, trigger, inputs digest, the full
// intended state (JSON), the diff text, the result and its reason.
//
// Thread model: thread-safe (one connection under a mutex); other processes
// may read the file concurrently (WAL, busy timeout).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct sqlite3;

namespace vantage::push {

struct AuditRecord {
  int64_t id = 0;  // assigned by Append
  absl::Time time = absl::UnixEpoch();
  std::string trigger{};        // "period", "change", "manual", "rollback", ...
  std::string inputs_digest{};  // SHA-256 of the optimizer inputs
  std::string state_json{};     // the state applied (or proposed, when refused)
  std::string diff{};           // DiffText
  std::string result{};         // PushResultName
  std::string reason{};
};

class AuditLog {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  absl::Status Append(AuditRecord& record);
  // Newest first.
  absl::StatusOr<std::vector<AuditRecord>> Recent(int limit) const;

 private:
  explicit AuditLog(sqlite3* db) : db_(db) {}
  mutable std::mutex mu_;
  sqlite3* db_;
};

}  // namespace vantage::push
