#include "collector/report_store.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace vantage::collector {
namespace {

// Numbered migrations; entry i moves the schema from version i to i + 1.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE reports (
  report_id BLOB PRIMARY KEY,
  probe_id TEXT NOT NULL,
  pop TEXT NOT NULL,
  window_start_ns INTEGER NOT NULL,
  window_end_ns INTEGER NOT NULL,
  received_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX reports_by_end ON reports(window_end_ns);
CREATE INDEX reports_by_probe ON reports(probe_id, window_start_ns);
CREATE TABLE series (
  report_id BLOB NOT NULL,
  pop TEXT NOT NULL,
  kind INTEGER NOT NULL,        -- 1 active, 2 passive, 3 dns
  key TEXT NOT NULL,            -- target, client prefix, or server|qname|qtype
  method INTEGER NOT NULL,
  window_end_ns INTEGER NOT NULL,
  body BLOB NOT NULL            -- the serialized *Series message
);
CREATE INDEX series_by_end ON series(window_end_ns);
CREATE INDEX series_by_key ON series(pop, kind, key, method, window_end_ns);
)sql",
};

absl::Status SqliteError(sqlite3* db, absl::string_view what) {
  return absl::InternalError(absl::StrCat("sqlite: ", what, ": ", sqlite3_errmsg(db)));
}

class Reset {
 public:
  explicit Reset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ReportStore>> ReportStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status st = absl::UnavailableError(
        absl::StrCat("cannot open database '", path, "': ", db ? sqlite3_errmsg(db) : "no memory"));
    sqlite3_close(db);
    return st;
  }
  std::unique_ptr<ReportStore> store(new ReportStore(db));
  VANTAGE_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  VANTAGE_RETURN_IF_ERROR(store->Exec("PRAGMA synchronous=FULL"));
  VANTAGE_RETURN_IF_ERROR(store->Exec("PRAGMA foreign_keys=ON"));
  sqlite3_busy_timeout(db, 5000);
  VANTAGE_RETURN_IF_ERROR(store->Migrate());
  VANTAGE_RETURN_IF_ERROR(store->Prepare());
  return store;
}

ReportStore::ReportStore(sqlite3* db) : db_(db) {}

ReportStore::~ReportStore() {
  sqlite3_finalize(insert_report_);
  sqlite3_finalize(insert_series_);
  sqlite3_close(db_);
}

absl::Status ReportStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    absl::Status st = absl::InternalError(absl::StrCat("sqlite: ", err ? err : "error"));
    sqlite3_free(err);
    return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ReportStore::QueryInt(const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) {
    return SqliteError(db_, sql);
  }
  int64_t value = 0;
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteError(db_, sql);
  return value;
}

absl::Status ReportStore::Migrate() {
  VANTAGE_ASSIGN_OR_RETURN(int64_t version, QueryInt("PRAGMA user_version"));
  constexpr auto kLatest = static_cast<int64_t>(std::size(kMigrations));
  static_assert(std::size(kMigrations) == kSchemaVersion);
  if (version > kLatest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "database schema version ", version, " is newer than this collector (", kLatest, ")"));
  }
  for (; version < kLatest; ++version) {
    VANTAGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status st = Exec(kMigrations[version]);
    if (st.ok()) st = Exec(absl::StrCat("PRAGMA user_version=", version + 1).c_str());
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
    VANTAGE_RETURN_IF_ERROR(Exec("COMMIT"));
  }
  return absl::OkStatus();
}

absl::Status ReportStore::Prepare() {
  if (sqlite3_prepare_v3(db_,
                         "INSERT OR IGNORE INTO reports(report_id, probe_id, pop, window_start_ns, "
                         "window_end_ns, received_ns) VALUES(?,?,?,?,?,?)",
                         -1, SQLITE_PREPARE_PERSISTENT, &insert_report_, nullptr) != SQLITE_OK) {
    return SqliteError(db_, "prepare insert report");
  }
  if (sqlite3_prepare_v3(db_,
                         "INSERT INTO series(report_id, pop, kind, key, method, window_end_ns, "
                         "body) VALUES(?,?,?,?,?,?,?)",
                         -1, SQLITE_PREPARE_PERSISTENT, &insert_series_, nullptr) != SQLITE_OK) {
    return SqliteError(db_, "prepare insert series");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ReportStore::Outcome>> ReportStore::StoreBatch(
    const std::vector<const v1::ProbeReport*>& reports, absl::Time received_at) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(reports.size());
  VANTAGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [&](absl::Status st) {
    (void)Exec("ROLLBACK");
    return st;
  };
  const int64_t received_ns = absl::ToUnixNanos(received_at);
  std::string body;
  for (const v1::ProbeReport* r : reports) {
    {
      Reset reset(insert_report_);
      sqlite3_bind_blob(insert_report_, 1, r->report_id().data(),
                        static_cast<int>(r->report_id().size()), SQLITE_STATIC);
      sqlite3_bind_text(insert_report_, 2, r->probe_id().data(),
                        static_cast<int>(r->probe_id().size()), SQLITE_STATIC);
      sqlite3_bind_text(insert_report_, 3, r->pop().data(), static_cast<int>(r->pop().size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(insert_report_, 4, r->window_start_unix_ns());
      sqlite3_bind_int64(insert_report_, 5, r->window_end_unix_ns());
      sqlite3_bind_int64(insert_report_, 6, received_ns);
      if (sqlite3_step(insert_report_) != SQLITE_DONE) {
        return fail(SqliteError(db_, "insert report"));
      }
    }
    if (sqlite3_changes(db_) == 0) {
      outcomes.push_back(Outcome::kDuplicate);
      continue;
    }
    outcomes.push_back(Outcome::kStored);
    auto insert = [&](int kind, const std::string& key, int method,
                      const google::protobuf::MessageLite& m) -> absl::Status {
      Reset reset(insert_series_);
      body.clear();
      m.SerializeToString(&body);
      sqlite3_bind_blob(insert_series_, 1, r->report_id().data(),
                        static_cast<int>(r->report_id().size()), SQLITE_STATIC);
      sqlite3_bind_text(insert_series_, 2, r->pop().data(), static_cast<int>(r->pop().size()),
                        SQLITE_STATIC);
      sqlite3_bind_int(insert_series_, 3, kind);
      sqlite3_bind_text(insert_series_, 4, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
      sqlite3_bind_int(insert_series_, 5, method);
      sqlite3_bind_int64(insert_series_, 6, r->window_end_unix_ns());
      sqlite3_bind_blob(insert_series_, 7, body.data(), static_cast<int>(body.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert_series_) != SQLITE_DONE) return SqliteError(db_, "insert series");
      return absl::OkStatus();
    };
    for (const auto& s : r->active()) {
      if (auto st = insert(1, s.target(), s.method(), s); !st.ok()) return fail(st);
    }
    for (const auto& s : r->passive()) {
      if (auto st = insert(2, s.client_prefix(), s.method(), s); !st.ok()) return fail(st);
    }
    for (const auto& s : r->dns()) {
      const std::string key = absl::StrCat(s.server(), "|", s.qname(), "|", s.qtype());
      if (auto st = insert(3, key, v1::METHOD_DNS, s); !st.ok()) return fail(st);
    }
  }
  if (auto st = Exec("COMMIT"); !st.ok()) return fail(st);
  return outcomes;
}

absl::StatusOr<int64_t> ReportStore::ExpireBefore(absl::Time cutoff) {
  const std::string ns = absl::StrCat(absl::ToUnixNanos(cutoff));
  VANTAGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status st = Exec(absl::StrCat("DELETE FROM series WHERE window_end_ns < ", ns).c_str());
  const int64_t deleted = sqlite3_changes64(db_);
  if (st.ok()) st = Exec(absl::StrCat("DELETE FROM reports WHERE window_end_ns < ", ns).c_str());
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  VANTAGE_RETURN_IF_ERROR(Exec("COMMIT"));
  return deleted;
}

absl::StatusOr<int64_t> ReportStore::CountReports() {
  return QueryInt("SELECT count(*) FROM reports");
}

absl::StatusOr<int64_t> ReportStore::CountSeries() {
  return QueryInt("SELECT count(*) FROM series");
}

absl::StatusOr<int64_t> ReportStore::SizeBytes() {
  VANTAGE_ASSIGN_OR_RETURN(int64_t pages, QueryInt("PRAGMA page_count"));
  VANTAGE_ASSIGN_OR_RETURN(int64_t page_size, QueryInt("PRAGMA page_size"));
  return pages * page_size;
}

absl::StatusOr<std::vector<std::string>> ReportStore::ReportIdsOfProbe(
    const std::string& probe_id) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT report_id FROM reports WHERE probe_id = ? ORDER BY "
                         "window_start_ns",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    return SqliteError(db_, "prepare");
  }
  sqlite3_bind_text(stmt, 1, probe_id.data(), static_cast<int>(probe_id.size()), SQLITE_STATIC);
  std::vector<std::string> ids;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    ids.emplace_back(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return SqliteError(db_, "select report ids");
  return ids;
}

}  // namespace vantage::collector
