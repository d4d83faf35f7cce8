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
    // v2: one row per report in `windows` (the whole serialized ProbeReport)
    // instead of one row per series: 100x fewer rows and index entries per
    // report. Reports stored by v1 keep their rows in `series`.
    R"sql(
CREATE TABLE windows (
  seq INTEGER PRIMARY KEY,      -- arrival order
  report_id BLOB NOT NULL,
  body BLOB NOT NULL            -- the serialized ProbeReport
);
ALTER TABLE reports ADD COLUMN windows_seq INTEGER;  -- NULL: a v1 report, see `series`
ALTER TABLE reports ADD COLUMN series_count INTEGER NOT NULL DEFAULT 0;
UPDATE reports SET series_count = c.n
  FROM (SELECT report_id, count(*) AS n FROM series GROUP BY report_id) AS c
  WHERE reports.report_id = c.report_id;
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
  VANTAGE_RETURN_IF_ERROR(
      store->Exec(absl::StrCat("PRAGMA wal_autocheckpoint=", kWalSafetyPages).c_str()));
  sqlite3* checkpoint_db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &checkpoint_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    absl::Status st = SqliteError(checkpoint_db, "open checkpointer connection");
    sqlite3_close(checkpoint_db);
    return st;
  }
  sqlite3_busy_timeout(checkpoint_db, 1000);
  ReportStore* raw = store.get();
  store->checkpointer_ = std::thread([raw, checkpoint_db] { raw->RunCheckpointer(checkpoint_db); });
  return store;
}

void ReportStore::RunCheckpointer(sqlite3* db) {
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  while (!checkpoint_stop_) {
    checkpoint_cv_.wait_for(lock, absl::ToChronoMilliseconds(kCheckpointInterval),
                            [&] { return checkpoint_stop_; });
    if (checkpoint_stop_) break;
    lock.unlock();
    // PASSIVE: copies what it can without waiting for (or blocking) the writer.
    (void)sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
  }
  lock.unlock();
  sqlite3_close(db);
}

ReportStore::ReportStore(sqlite3* db) : db_(db) {}

ReportStore::~ReportStore() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  sqlite3_finalize(insert_report_);
  sqlite3_finalize(insert_window_);
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
                         "window_end_ns, received_ns, windows_seq, series_count) "
                         "VALUES(?,?,?,?,?,?,?,?)",
                         -1, SQLITE_PREPARE_PERSISTENT, &insert_report_, nullptr) != SQLITE_OK) {
    return SqliteError(db_, "prepare insert report");
  }
  if (sqlite3_prepare_v3(db_, "INSERT INTO windows(seq, report_id, body) VALUES(?,?,?)", -1,
                         SQLITE_PREPARE_PERSISTENT, &insert_window_, nullptr) != SQLITE_OK) {
    return SqliteError(db_, "prepare insert window");
  }
  VANTAGE_ASSIGN_OR_RETURN(const int64_t last,
                           QueryInt("SELECT coalesce(max(seq), 0) FROM windows"));
  next_seq_ = last + 1;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ReportStore::Outcome>> ReportStore::StoreBatch(
    const std::vector<const v1::ProbeReport*>& reports, absl::Time received_at,
    const std::vector<const std::string*>& bodies) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(reports.size());
  VANTAGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  const int64_t first_seq = next_seq_;
  auto fail = [&](absl::Status st) {
    (void)Exec("ROLLBACK");
    next_seq_ = first_seq;
    return st;
  };
  const int64_t received_ns = absl::ToUnixNanos(received_at);
  for (size_t i = 0; i < reports.size(); ++i) {
    const v1::ProbeReport* r = reports[i];
    const int64_t seq = next_seq_;
    const int64_t series = int64_t{r->active_size()} + r->passive_size() + r->dns_size();
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
      sqlite3_bind_int64(insert_report_, 7, seq);
      sqlite3_bind_int64(insert_report_, 8, series);
      if (sqlite3_step(insert_report_) != SQLITE_DONE) {
        return fail(SqliteError(db_, "insert report"));
      }
    }
    if (sqlite3_changes(db_) == 0) {
      outcomes.push_back(Outcome::kDuplicate);
      continue;
    }
    outcomes.push_back(Outcome::kStored);
    const std::string* body = i < bodies.size() ? bodies[i] : nullptr;
    if (body == nullptr) {
      body_.clear();
      r->SerializeToString(&body_);
      body = &body_;
    }
    Reset reset(insert_window_);
    sqlite3_bind_int64(insert_window_, 1, seq);
    sqlite3_bind_blob(insert_window_, 2, r->report_id().data(),
                      static_cast<int>(r->report_id().size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_window_, 3, body->data(), static_cast<int>(body->size()),
                      SQLITE_STATIC);
    if (sqlite3_step(insert_window_) != SQLITE_DONE) {
      return fail(SqliteError(db_, "insert window"));
    }
    ++next_seq_;
  }
  if (auto st = Exec("COMMIT"); !st.ok()) return fail(st);
  return outcomes;
}

absl::StatusOr<int64_t> ReportStore::ExpireBefore(absl::Time cutoff) {
  const std::string ns = absl::StrCat(absl::ToUnixNanos(cutoff));
  VANTAGE_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto deleted = QueryInt(
      absl::StrCat("SELECT total(series_count) FROM reports WHERE window_end_ns < ", ns).c_str());
  absl::Status st = deleted.status();
  if (st.ok()) st = Exec(absl::StrCat("DELETE FROM series WHERE window_end_ns < ", ns).c_str());
  if (st.ok()) {
    st = Exec(absl::StrCat("DELETE FROM windows WHERE seq IN (SELECT windows_seq FROM reports "
                           "WHERE window_end_ns < ",
                           ns, ")")
                  .c_str());
  }
  if (st.ok()) st = Exec(absl::StrCat("DELETE FROM reports WHERE window_end_ns < ", ns).c_str());
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  VANTAGE_RETURN_IF_ERROR(Exec("COMMIT"));
  return *deleted;
}

absl::StatusOr<int64_t> ReportStore::CountReports() {
  return QueryInt("SELECT count(*) FROM reports");
}

absl::StatusOr<int64_t> ReportStore::CountSeries() {
  return QueryInt("SELECT total(series_count) FROM reports");
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
