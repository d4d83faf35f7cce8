#include "push/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace vantage::push {
namespace {

TEST(AuditLogTest, AppendsAndListsNewestFirst) {
  const std::string path = "/tmp/vt-push-audit-" + std::to_string(getpid()) + ".db";
  std::remove(path.c_str());
  {
    auto log = AuditLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 3; ++i) {
      AuditRecord r;
      r.time = absl::FromUnixSeconds(1000 + i);
      r.trigger = "period";
      r.inputs_digest = "d" + std::to_string(i);
      r.result = i == 2 ? "refused" : "applied";
      ASSERT_TRUE((*log)->Append(r).ok());
      EXPECT_EQ(r.id, i + 1);
    }
  }
  auto log = AuditLog::Open(path);  // reopens the same file
  ASSERT_TRUE(log.ok());
  auto recent = (*log)->Recent(2);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ((*recent)[0].inputs_digest, "d2");
  EXPECT_EQ((*recent)[0].result, "refused");
  EXPECT_EQ((*recent)[1].time, absl::FromUnixSeconds(1001));
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
}

}  // namespace
}  // namespace vantage::push
