#include "collector/report_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/collector/test_reports.h"

namespace vantage::collector {
namespace {

using testing::MakeReport;

class ReportStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("vantage-store-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string DbPath() const { return (dir_ / "collector.db").string(); }

  std::filesystem::path dir_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(ReportStoreTest, StoresOnceAndDeduplicatesByReportId) {
  auto store = ReportStore::Open(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();
  const auto a = MakeReport("p1", "ams", 1, now_, 3);
  const auto b = MakeReport("p1", "ams", 2, now_ + absl::Seconds(10), 3);
  auto first = (*store)->StoreBatch({&a, &b, &a}, now_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, (std::vector<ReportStore::Outcome>{ReportStore::Outcome::kStored,
                                                       ReportStore::Outcome::kStored,
                                                       ReportStore::Outcome::kDuplicate}));
  auto again = (*store)->StoreBatch({&b}, now_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0], ReportStore::Outcome::kDuplicate);
  EXPECT_EQ(*(*store)->CountReports(), 2);
  EXPECT_EQ(*(*store)->CountSeries(), 2 * (3 + 1 + 1));
}

TEST_F(ReportStoreTest, SurvivesReopenAndKeepsSchemaVersion) {
  const auto a = MakeReport("p1", "ams", 7, now_);
  {
    auto store = ReportStore::Open(DbPath());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->StoreBatch({&a}, now_).ok());
  }
  auto store = ReportStore::Open(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->CountReports(), 1);
  auto ids = (*store)->ReportIdsOfProbe("p1");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<std::string>{a.report_id()});
  EXPECT_GT(*(*store)->SizeBytes(), 0);
}

TEST_F(ReportStoreTest, RefusesADatabaseFromTheFuture) {
  {
    auto store = ReportStore::Open(DbPath());
    ASSERT_TRUE(store.ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = ReportStore::Open(DbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReportStoreTest, ExpiresOldWindows) {
  auto store = ReportStore::Open(DbPath());
  ASSERT_TRUE(store.ok());
  const auto old_report = MakeReport("p1", "ams", 1, now_ - absl::Hours(24 * 8), 2);
  const auto fresh = MakeReport("p1", "ams", 2, now_, 2);
  ASSERT_TRUE((*store)->StoreBatch({&old_report, &fresh}, now_).ok());
  auto deleted = (*store)->ExpireBefore(now_ - absl::Hours(24 * 7));
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 4);
  EXPECT_EQ(*(*store)->CountReports(), 1);
  EXPECT_EQ(*(*store)->CountSeries(), 4);
}

TEST_F(ReportStoreTest, StoresTheWholeReportOncePerWindowInArrivalOrder) {
  auto store = ReportStore::Open(DbPath());
  ASSERT_TRUE(store.ok());
  const auto a = MakeReport("p1", "ams", 1, now_, 3);
  const auto b = MakeReport("p2", "ams", 2, now_ - absl::Seconds(10), 2);
  ASSERT_TRUE((*store)->StoreBatch({&a, &b, &a}, now_).ok());
  store->reset();  // closes; the data must be on disk
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT body FROM windows ORDER BY seq", -1, &stmt, nullptr),
            SQLITE_OK);
  std::vector<v1::ProbeReport> bodies;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    bodies.emplace_back().ParseFromArray(sqlite3_column_blob(stmt, 0),
                                         sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  ASSERT_EQ(bodies.size(), 2u) << "one row per report, the duplicate not stored again";
  EXPECT_EQ(bodies[0].SerializeAsString(), a.SerializeAsString());
  EXPECT_EQ(bodies[1].SerializeAsString(), b.SerializeAsString());
}

TEST_F(ReportStoreTest, MigratesASchemaV1DatabaseKeepingItsSeries) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    // Schema v1 as it shipped: one row per series.
    const char* v1 = R"sql(
      CREATE TABLE reports (report_id BLOB PRIMARY KEY, probe_id TEXT NOT NULL, pop TEXT NOT NULL,
        window_start_ns INTEGER NOT NULL, window_end_ns INTEGER NOT NULL,
        received_ns INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX reports_by_end ON reports(window_end_ns);
      CREATE INDEX reports_by_probe ON reports(probe_id, window_start_ns);
      CREATE TABLE series (report_id BLOB NOT NULL, pop TEXT NOT NULL, kind INTEGER NOT NULL,
        key TEXT NOT NULL, method INTEGER NOT NULL, window_end_ns INTEGER NOT NULL,
        body BLOB NOT NULL);
      CREATE INDEX series_by_end ON series(window_end_ns);
      CREATE INDEX series_by_key ON series(pop, kind, key, method, window_end_ns);
      INSERT INTO reports VALUES (x'01', 'p1', 'ams', 0, 10, 10), (x'02', 'p1', 'ams', 10, 20, 20);
      INSERT INTO series VALUES (x'01', 'ams', 1, 't1', 1, 10, x''), (x'01', 'ams', 1, 't2', 1, 10, x''),
        (x'02', 'ams', 1, 't1', 1, 20, x'');
      PRAGMA user_version=1;
    )sql";
    ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  auto store = ReportStore::Open(DbPath());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->CountReports(), 2);
  EXPECT_EQ(*(*store)->CountSeries(), 3);
  // v2 reports go next to them; retention removes old rows of both layouts.
  const auto fresh = MakeReport("p1", "ams", 3, now_, 2);
  ASSERT_TRUE((*store)->StoreBatch({&fresh}, now_).ok());
  EXPECT_EQ(*(*store)->CountSeries(), 3 + 4);
  auto deleted = (*store)->ExpireBefore(absl::FromUnixNanos(15));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(*(*store)->CountReports(), 2);
  EXPECT_EQ(*(*store)->CountSeries(), 1 + 4);
}

TEST_F(ReportStoreTest, OpenFailsClearlyOnAnUnwritablePath) {
  auto store = ReportStore::Open("/nonexistent-dir/x/collector.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/nonexistent-dir/x/collector.db"), std::string::npos);
}

}  // namespace
}  // namespace vantage::collector
