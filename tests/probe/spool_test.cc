#include "probe/spool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace vantage::probe {
namespace {

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("vantage-spool-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<std::string> Drain(Spool& spool) {
    std::vector<std::string> out;
    uint64_t after = 0;
    while (auto r = spool.Next(after)) {
      out.push_back(r->payload);
      after = r->seq;
    }
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(SpoolTest, ReplaysInOrderAcrossReopen) {
  {
    auto spool = Spool::Open(dir_, 1 << 20);
    ASSERT_TRUE(spool.ok()) << spool.status();
    for (const char* w : {"w1", "w2", "w3"}) ASSERT_TRUE((*spool)->Append(w).ok());
  }
  auto spool = Spool::Open(dir_, 1 << 20);
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ(Drain(**spool), (std::vector<std::string>{"w1", "w2", "w3"}));
  EXPECT_EQ((*spool)->Stats().records, 3u);
  // New appends continue after the old sequence numbers.
  auto seq = (*spool)->Append("w4");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 4u);
}

TEST_F(SpoolTest, RemoveForgetsAcknowledgedRecords) {
  auto spool = Spool::Open(dir_, 1 << 20);
  ASSERT_TRUE(spool.ok());
  const uint64_t a = *(*spool)->Append("a");
  (void)*(*spool)->Append("b");
  ASSERT_TRUE((*spool)->Remove(a).ok());
  ASSERT_TRUE((*spool)->Remove(12345).ok());  // unknown: no-op
  EXPECT_EQ(Drain(**spool), std::vector<std::string>{"b"});
  EXPECT_EQ((*spool)->Stats().removed, 1u);
  EXPECT_EQ((*spool)->Stats().records, 1u);
}

TEST_F(SpoolTest, CorruptRecordIsSkippedCountedAndTheRestReplayed) {
  {
    auto spool = Spool::Open(dir_, 1 << 20);
    ASSERT_TRUE(spool.ok());
    for (const char* w : {"first", "second", "third"}) ASSERT_TRUE((*spool)->Append(w).ok());
  }
  // Flip one payload byte of the second record, truncate nothing.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 3u);
  {
    std::fstream f(files[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('X');
  }
  // And truncate the third one's header.
  std::filesystem::resize_file(files[2], 10);
  auto spool = Spool::Open(dir_, 1 << 20);
  ASSERT_TRUE(spool.ok());
  EXPECT_EQ(Drain(**spool), std::vector<std::string>{"first"});
  EXPECT_EQ((*spool)->Stats().corrupt, 2u);
  EXPECT_FALSE(std::filesystem::exists(files[1]));
}

TEST_F(SpoolTest, SizeCapDropsTheOldestAndCountsThem) {
  auto spool = Spool::Open(dir_, 400);
  ASSERT_TRUE(spool.ok());
  const std::string payload(100, 'x');  // ~124 bytes on disk
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*spool)->Append(payload + std::to_string(i)).ok());
  const SpoolStats stats = (*spool)->Stats();
  EXPECT_LE(stats.bytes, 400u);
  EXPECT_EQ(stats.records, 3u);
  EXPECT_EQ(stats.dropped_full, 7u);
  const auto left = Drain(**spool);
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left.back(), payload + "9");
}

TEST_F(SpoolTest, LeftoverTempFilesAreIgnored) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ / "00000000000000000001.rec.tmp") << "half-written";
  auto spool = Spool::Open(dir_, 1 << 20);
  ASSERT_TRUE(spool.ok());
  EXPECT_FALSE((*spool)->Next(0).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "00000000000000000001.rec.tmp"));
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) { EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u); }

}  // namespace
}  // namespace vantage::probe
