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

TEST_F(ReportStoreTest, OpenFailsClearlyOnAnUnwritablePath) {
  auto store = ReportStore::Open("/nonexistent-dir/x/collector.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/nonexistent-dir/x/collector.db"), std::string::npos);
}

}  // namespace
}  // namespace vantage::collector
