#include "push/audit_log.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace vantage::push {

namespace {

absl::Status SqlError(sqlite3* db, const char* what) {
  return absl::InternalError(absl::StrCat("audit log ", what, ": ", sqlite3_errmsg(db)));
}

std::string Column(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    auto st = SqlError(db, "open");
    sqlite3_close(db);
    return st;
  }
  sqlite3_busy_timeout(db, 5000);
  const char* ddl =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS push_audit ("
      " id INTEGER PRIMARY KEY AUTOINCREMENT, time_unix_ns INTEGER NOT NULL,"
      " trigger TEXT NOT NULL, inputs_digest TEXT NOT NULL, state_json TEXT NOT NULL,"
      " diff TEXT NOT NULL, result TEXT NOT NULL, reason TEXT NOT NULL);";
  if (sqlite3_exec(db, ddl, nullptr, nullptr, nullptr) != SQLITE_OK) {
    auto st = SqlError(db, "schema");
    sqlite3_close(db);
    return st;
  }
  return std::unique_ptr<AuditLog>(new AuditLog(db));
}

AuditLog::~AuditLog() { sqlite3_close(db_); }

absl::Status AuditLog::Append(AuditRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO push_audit (time_unix_ns, trigger, inputs_digest, "
                         "state_json, diff, result, reason) VALUES (?,?,?,?,?,?,?)",
                         -1, &s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  sqlite3_bind_int64(s, 1, absl::ToUnixNanos(r.time));
  sqlite3_bind_text(s, 2, r.trigger.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, r.inputs_digest.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 4, r.state_json.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 5, r.diff.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 6, r.result.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 7, r.reason.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return SqlError(db_, "insert");
  r.id = sqlite3_last_insert_rowid(db_);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<AuditRecord>> AuditLog::Recent(int limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT id, time_unix_ns, trigger, inputs_digest, state_json, diff, "
                         "result, reason FROM push_audit ORDER BY id DESC LIMIT ?",
                         -1, &s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare");
  }
  sqlite3_bind_int(s, 1, limit);
  std::vector<AuditRecord> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    AuditRecord r;
    r.id = sqlite3_column_int64(s, 0);
    r.time = absl::FromUnixNanos(sqlite3_column_int64(s, 1));
    r.trigger = Column(s, 2);
    r.inputs_digest = Column(s, 3);
    r.state_json = Column(s, 4);
    r.diff = Column(s, 5);
    r.result = Column(s, 6);
    r.reason = Column(s, 7);
    out.push_back(std::move(r));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return SqlError(db_, "select");
  return out;
}

}  // namespace vantage::push
