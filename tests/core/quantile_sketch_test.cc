#include "core/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

namespace vantage {
namespace {

double ExactQuantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

std::vector<double> Lognormal(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(std::log(20'000.0), 0.8);  // ~20 ms in us
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(QuantileSketchTest, EveryQuantileWithinAlphaOfExact) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const auto data = Lognormal(20'000, seed);
    QuantileSketch s;
    for (double x : data) ASSERT_TRUE(s.Add(x));
    for (double q = 0; q <= 1.0; q += 0.01) {
      const double exact = ExactQuantile(data, q);
      EXPECT_LE(std::fabs(s.Quantile(q) - exact), s.alpha() * exact + 1e-12)
          << "q=" << q << " seed=" << seed;
    }
    EXPECT_EQ(s.count(), data.size());
    EXPECT_EQ(s.min(), *std::min_element(data.begin(), data.end()));
    EXPECT_EQ(s.max(), *std::max_element(data.begin(), data.end()));
  }
}

TEST(QuantileSketchTest, HandlesNegativesAndZeros) {
  // One-way delays with unsynchronised clocks can be negative.
  std::vector<double> data;
  for (int i = -500; i <= 500; ++i) data.push_back(i * 3.5);
  QuantileSketch s;
  for (double x : data) s.Add(x);
  for (double q : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0}) {
    const double exact = ExactQuantile(data, q);
    EXPECT_LE(std::fabs(s.Quantile(q) - exact), s.alpha() * std::fabs(exact) + 1e-12) << q;
  }
}

TEST(QuantileSketchTest, MergeOfAnySplitEqualsTheWhole) {
  std::mt19937 rng(42);
  auto data = Lognormal(5'000, 7);
  for (int i = 0; i < 50; ++i) data.push_back(-static_cast<double>(i));  // some negatives, a zero
  QuantileSketch whole;
  for (double x : data) whole.Add(x);
  for (int trial = 0; trial < 20; ++trial) {
    const int parts = 1 + static_cast<int>(rng() % 7);
    std::vector<QuantileSketch> sketches(static_cast<size_t>(parts));
    for (double x : data) sketches[rng() % static_cast<size_t>(parts)].Add(x);
    QuantileSketch merged;
    // Merge in a random order, sometimes into a non-empty sketch.
    std::shuffle(sketches.begin(), sketches.end(), rng);
    for (const auto& part : sketches) ASSERT_TRUE(merged.Merge(part).ok());
    EXPECT_TRUE(merged == whole) << "trial " << trial;
    EXPECT_EQ(merged.Serialize(), whole.Serialize());
  }
}

TEST(QuantileSketchTest, MergeStaysExactWhenBinsCollapse) {
  // A range far wider than 32 bins forces the lowest buckets to fold.
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> exponent(-3, 9);
  std::vector<double> data(4'000);
  for (auto& x : data) x = std::pow(10.0, exponent(rng));
  QuantileSketch whole(0.01, 32);
  for (double x : data) whole.Add(x);
  EXPECT_LE(whole.bucket_count(), 32u);
  for (int trial = 0; trial < 20; ++trial) {
    QuantileSketch a(0.01, 32), b(0.01, 32), c(0.01, 32);
    for (double x : data) {
      const auto r = rng() % 3;
      (r == 0 ? a : r == 1 ? b : c).Add(x);
    }
    ASSERT_TRUE(c.Merge(a).ok());
    ASSERT_TRUE(c.Merge(b).ok());
    EXPECT_TRUE(c == whole) << "trial " << trial;
  }
  // The tail keeps its accuracy.
  EXPECT_LE(std::fabs(whole.Quantile(0.99) - ExactQuantile(data, 0.99)),
            0.01 * ExactQuantile(data, 0.99));
}

TEST(QuantileSketchTest, RejectsNonFiniteValuesAndCountsThem) {
  QuantileSketch s;
  EXPECT_FALSE(s.Add(std::nan("")));
  EXPECT_FALSE(s.Add(INFINITY, 3));
  EXPECT_TRUE(s.Add(5.0));
  EXPECT_EQ(s.count(), 1u);
  EXPECT_EQ(s.rejected(), 4u);
  EXPECT_DOUBLE_EQ(s.Quantile(0.5), 5.0);
}

TEST(QuantileSketchTest, EmptySketchAnswersNaN) {
  QuantileSketch s;
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
  EXPECT_TRUE(std::isnan(s.min()));
  EXPECT_TRUE(s.empty());
}

TEST(QuantileSketchTest, MergeRefusesDifferentParameters) {
  QuantileSketch a(0.01), b(0.02);
  b.Add(1);
  EXPECT_FALSE(a.Merge(b).ok());
  EXPECT_TRUE(a.empty());
}

TEST(QuantileSketchTest, SerializationRoundTripsAndIsCompact) {
  QuantileSketch s;
  for (double x : Lognormal(10'000, 5)) s.Add(x);
  s.Add(0);
  s.Add(-12.5);
  const std::string bytes = s.Serialize();
  auto back = QuantileSketch::Deserialize(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(*back == s);
  EXPECT_EQ(back->Quantile(0.9), s.Quantile(0.9));
  // 10k samples spread over ~2 decades: a few hundred buckets, ~2 bytes each.
  EXPECT_LT(bytes.size(), 1200u);
}

TEST(QuantileSketchTest, DeserializeRejectsCorruptInput) {
  QuantileSketch s;
  for (double x : {1.0, 2.0, 3.0, 1000.0}) s.Add(x);
  const std::string good = s.Serialize();
  // Every truncation fails cleanly.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(QuantileSketch::Deserialize(good.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(QuantileSketch::Deserialize(good + "x").ok());
  std::string bad_version = good;
  bad_version[0] = 9;
  EXPECT_FALSE(QuantileSketch::Deserialize(bad_version).ok());
  // A count that does not match the buckets.
  QuantileSketch t;
  t.Add(1.0);
  std::string lie = t.Serialize();
  lie[11] = 2;  // count: after version (1 byte), alpha (8) and max_bins (2)
  EXPECT_FALSE(QuantileSketch::Deserialize(lie).ok());
}

TEST(QuantileSketchTest, FastIndexEqualsExactIndex) {
  // Index() avoids std::log; it must give ExactIndex() everywhere: random
  // magnitudes over the whole indexable range, and the doubles right around
  // every bucket edge gamma^k in a wide range (where a rounding slip would
  // show), for several alphas.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> exponent(-9, 308);
  std::uniform_real_distribution<double> unit(1, 10);
  for (double alpha : {0.01, 0.001, 0.0001, 0.05, 0.5}) {
    const QuantileSketch s(alpha);
    for (int i = 0; i < 200'000; ++i) {
      const double m = std::min(unit(rng) * std::pow(10.0, exponent(rng)), 1.7e308);
      if (m < QuantileSketch::kMinIndexable) continue;
      ASSERT_EQ(s.Index(m), s.ExactIndex(m)) << "alpha " << alpha << " m " << m;
    }
    // Each edge: the first double whose exact index is above k (bucket k
    // ends at gamma^k), found by bisection on the bit pattern around
    // exp(k ln gamma).
    const double log_gamma = std::log((1 + s.alpha()) / (1 - s.alpha()));
    const int k_first = static_cast<int>(std::ceil(std::log(1e-6) / log_gamma));
    const int k_last = static_cast<int>(std::log(1e9) / log_gamma);
    const int step = std::max(1, (k_last - k_first) / 20'000);
    int edges = 0;
    for (int k = k_first; k <= k_last; k += step, ++edges) {
      const double estimate = std::exp(k * log_gamma);
      uint64_t lo = std::bit_cast<uint64_t>(estimate * (1 - 1e-9));
      uint64_t hi = std::bit_cast<uint64_t>(estimate * (1 + 1e-9));
      ASSERT_LE(s.ExactIndex(std::bit_cast<double>(lo)), k);
      ASSERT_GT(s.ExactIndex(std::bit_cast<double>(hi)), k);
      while (hi - lo > 1) {
        const uint64_t mid = lo + (hi - lo) / 2;
        (s.ExactIndex(std::bit_cast<double>(mid)) > k ? hi : lo) = mid;
      }
      for (uint64_t b = hi - 4; b <= hi + 4; ++b) {
        const double m = std::bit_cast<double>(b);
        ASSERT_EQ(s.Index(m), s.ExactIndex(m)) << "alpha " << alpha << " m " << m;
      }
    }
    EXPECT_GT(edges, 25);  // 31 at alpha 0.5, 20,000 (sampled) at 0.0001
  }
  // The RTT range in microseconds, densely.
  const QuantileSketch s;
  for (double m = 0.001; m < 1e8; m *= 1.0001) ASSERT_EQ(s.Index(m), s.ExactIndex(m)) << m;
}

TEST(QuantileSketchTest, AddPositiveBucketsEqualsOneBucketAtATime) {
  // Runs of bucket counts (zeros inside and at both ends, all zeros, runs
  // wider than max_bins) added to empty and non-empty sketches, below,
  // above, inside and around what they hold, with a small max_bins so that
  // the lowest fold: the same sketch as AddPositiveBucket per bucket.
  std::mt19937_64 rng(17);
  int folded = 0;
  int copies = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    SCOPED_TRACE(trial);
    QuantileSketch bulk(0.01, 32);
    QuantileSketch single(0.01, 32);
    // A few runs per trial (the first into an empty sketch).
    const int runs = 1 + static_cast<int>(rng() % 3);
    for (int r = 0; r < runs; ++r) {
      const auto first = static_cast<int32_t>(rng() % 120) - 60;
      std::vector<uint64_t> counts(rng() % 50);
      for (uint64_t& c : counts) c = rng() % 3 == 0 ? 0 : 1 + rng() % 5;
      if (!counts.empty() && rng() % 4 == 0) counts.front() = 0;
      if (!counts.empty() && rng() % 4 == 0) counts.back() = 0;
      const double min = 0.5 + static_cast<double>(rng() % 100);
      const double max = min + static_cast<double>(rng() % 100);
      if (r == 0 && counts.size() <= 32) ++copies;
      if (counts.size() > 32) ++folded;
      bulk.AddPositiveBuckets(first, counts, min, max);
      for (size_t i = 0; i < counts.size(); ++i) {
        single.AddPositiveBucket(first + static_cast<int32_t>(i), counts[i], min, max);
      }
    }
    ASSERT_TRUE(bulk == single);
    ASSERT_EQ(bulk.bucket_count(), single.bucket_count());
    if (!single.empty()) {
      ASSERT_EQ(bulk.min(), single.min());
      ASSERT_EQ(bulk.max(), single.max());
      ASSERT_EQ(bulk.Quantile(0.5), single.Quantile(0.5));
    }
  }
  EXPECT_GT(folded, 100);
  EXPECT_GT(copies, 100);
}

TEST(QuantileSketchTest, FewBucketsLiveInTheObject) {
  // Up to two buckets per sign need no allocation; a third (or a gap) does.
  // Inline or allocated, the same values give the same sketch and answers.
  QuantileSketch s;
  EXPECT_EQ(s.AllocatedBytes(), 0u);
  s.Add(100.0);
  s.Add(100.5);
  EXPECT_EQ(s.bucket_count(), 1u);
  s.Add(-100.0);
  s.Add(0.0);
  EXPECT_EQ(s.AllocatedBytes(), 0u);
  // The next bucket up (gamma = 1.0202): still inline.
  s.Add(102.0);
  EXPECT_EQ(s.bucket_count(), 3u);
  EXPECT_EQ(s.AllocatedBytes(), 0u);
  const QuantileSketch inline_copy = s;
  EXPECT_TRUE(inline_copy == s);
  EXPECT_EQ(inline_copy.AllocatedBytes(), 0u);
  s.Add(300.0);
  EXPECT_GE(s.AllocatedBytes(), 3 * sizeof(uint64_t));

  // The same values in another order, and through a merge and a
  // serialisation (each starting inline): equal, with equal answers.
  QuantileSketch other;
  for (double x : {300.0, 102.0, -100.0, 0.0, 100.5, 100.0}) other.Add(x);
  QuantileSketch merged = inline_copy;
  QuantileSketch tail;
  tail.Add(300.0);
  EXPECT_EQ(tail.AllocatedBytes(), 0u);
  ASSERT_TRUE(merged.Merge(tail).ok());
  auto back = QuantileSketch::Deserialize(s.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  for (const QuantileSketch* t : {&other, &merged, &*back}) {
    EXPECT_TRUE(*t == s);
    EXPECT_EQ(t->count(), 6u);
    for (double q : {0.0, 0.2, 0.4, 0.5, 0.7, 0.9, 1.0}) EXPECT_EQ(t->Quantile(q), s.Quantile(q));
  }
  // The answers are the buckets' values (2 gamma^i / (gamma + 1)), within
  // alpha of the values added.
  EXPECT_EQ(s.Quantile(0.0), -100.0);  // the exact minimum
  EXPECT_EQ(s.Quantile(0.2), 0.0);
  const double gamma = (1 + 0.01) / (1 - 0.01);
  EXPECT_DOUBLE_EQ(s.Quantile(0.4), 2 * std::pow(gamma, 231) / (gamma + 1));  // 100.49
  EXPECT_DOUBLE_EQ(s.Quantile(0.8), 2 * std::pow(gamma, 232) / (gamma + 1));  // 102.52
  EXPECT_EQ(s.Quantile(1.0), 300.0);                                          // the exact maximum

  // A moved sketch keeps its buckets, inline or not.
  QuantileSketch moved_inline = std::move(merged);
  EXPECT_TRUE(moved_inline == s);
  QuantileSketch few;
  few.Add(7.0);
  QuantileSketch moved_few = std::move(few);
  EXPECT_EQ(moved_few.count(), 1u);
  EXPECT_EQ(moved_few.Quantile(0.5), 7.0);
}

}  // namespace
}  // namespace vantage
