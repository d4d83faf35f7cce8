#include "probe/token_bucket.h"

#include <gtest/gtest.h>

namespace vantage::probe {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(TokenBucketTest, StartsFullAndEnforcesBurst) {
  TokenBucket bucket(100, 5, kT0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.TryTake(kT0)) << i;
  EXPECT_FALSE(bucket.TryTake(kT0));
  EXPECT_EQ(bucket.Available(kT0), 0);
}

TEST(TokenBucketTest, RefillsAtRateAndCapsAtBurst) {
  TokenBucket bucket(1000, 10, kT0);
  ASSERT_TRUE(bucket.TryTake(kT0, 10));
  EXPECT_EQ(bucket.Available(kT0 + absl::Milliseconds(3)), 3);
  EXPECT_EQ(bucket.Available(kT0 + absl::Seconds(5)), 10);  // capped
}

TEST(TokenBucketTest, WhenAvailableIsExact) {
  TokenBucket bucket(200, 1, kT0);
  ASSERT_TRUE(bucket.TryTake(kT0));
  EXPECT_EQ(bucket.WhenAvailable(kT0), kT0 + absl::Milliseconds(5));
  EXPECT_FALSE(bucket.TryTake(kT0 + absl::Microseconds(4990)));
  EXPECT_TRUE(bucket.TryTake(kT0 + absl::Milliseconds(5)));
}

TEST(TokenBucketTest, LongRunRateMatches) {
  TokenBucket bucket(10'000, 2, kT0);
  int sent = 0;
  for (int us = 0; us < 1'000'000; us += 7) {
    while (bucket.TryTake(kT0 + absl::Microseconds(us))) ++sent;
  }
  EXPECT_NEAR(sent, 10'000, 3);
}

}  // namespace
}  // namespace vantage::probe
