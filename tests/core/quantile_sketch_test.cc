#include "core/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <random>
#include <string>
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
  // Runs of bucket counts (64- and 32-bit) (zeros inside and at both ends, all zeros, runs
  // wider than max_bins) added to empty and non-empty sketches, below,
  // above, inside and around what they hold, with a small max_bins so that
  // the lowest fold: the same sketch as AddPositiveBucket per bucket.
  std::mt19937_64 rng(17);
  int folded = 0;
  int copies = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    SCOPED_TRACE(trial);
    QuantileSketch bulk(0.01, 32);
    QuantileSketch bulk32(0.01, 32);  // the same runs as 32-bit counts
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
      const std::vector<uint32_t> counts32(counts.begin(), counts.end());
      bulk32.AddPositiveBuckets(first, counts32, min, max);
      for (size_t i = 0; i < counts.size(); ++i) {
        single.AddPositiveBucket(first + static_cast<int32_t>(i), counts[i], min, max);
      }
    }
    ASSERT_TRUE(bulk == single);
    ASSERT_TRUE(bulk32 == single);
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

// The sketch's buckets as a model: every (index, count) ever added per sign,
// folded at the end (everything below the highest index - max_bins + 1
// counts there), and its serialisation built here, independently of the
// sketch's stores.
struct ModelSketch {
  ModelSketch(double a, uint32_t bins) : alpha(a), max_bins(bins) {}
  double alpha;
  uint32_t max_bins;
  std::map<int32_t, uint64_t> buckets[2];  // positive, negative
  uint64_t zero = 0;
  uint64_t count = 0;
  double min = 0;
  double max = 0;

  void Extremes(double lo, double hi) {
    min = count == 0 ? lo : std::min(min, lo);
    max = count == 0 ? hi : std::max(max, hi);
  }
  void Add(const QuantileSketch& params, double value, uint64_t n) {
    Extremes(value, value);
    count += n;
    if (std::fabs(value) < QuantileSketch::kMinIndexable) {
      zero += n;
    } else {
      buckets[value > 0 ? 0 : 1][params.Index(std::fabs(value))] += n;
    }
  }
  void AddBucket(int32_t index, uint64_t n, double lo, double hi) {
    Extremes(lo, hi);
    count += n;
    buckets[0][index] += n;
  }
  void Merge(const ModelSketch& o) {
    if (o.count == 0) return;
    Extremes(o.min, o.max);
    count += o.count;
    zero += o.zero;
    for (int sign = 0; sign < 2; ++sign) {
      for (const auto& [index, n] : o.buckets[sign]) buckets[sign][index] += n;
    }
  }
  static void Varint(std::string* out, uint64_t v) {
    for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    out->push_back(static_cast<char>(v));
  }
  static void Double(std::string* out, double d) {
    const auto bits = std::bit_cast<uint64_t>(d);
    for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
  }
  std::string Serialized() const {
    std::string out(1, '\x01');
    Double(&out, alpha);
    Varint(&out, max_bins);
    Varint(&out, count);
    Varint(&out, 0);  // rejected
    Varint(&out, zero);
    if (count > 0) {
      Double(&out, min);
      Double(&out, max);
    }
    for (const auto& raw : buckets) {
      if (raw.empty()) {
        Varint(&out, 0);
        continue;
      }
      const int64_t floor = int64_t{raw.rbegin()->first} - max_bins + 1;
      std::map<int64_t, uint64_t> folded;
      for (const auto& [index, n] : raw) folded[std::max<int64_t>(index, floor)] += n;
      const int64_t first = folded.begin()->first;
      const int64_t last = folded.rbegin()->first;
      Varint(&out, static_cast<uint64_t>(last - first + 1));
      Varint(&out, (static_cast<uint64_t>(first) << 1) ^ static_cast<uint64_t>(first >> 63));
      for (int64_t i = first; i <= last; ++i) {
        const auto it = folded.find(i);
        Varint(&out, it == folded.end() ? 0 : it->second);
      }
    }
    return out;
  }
};

TEST(QuantileSketchTest, StoresEqualADenseModelAcrossRandomInputs) {
  // Values of both signs and zeros (Add), buckets (AddPositiveBucket), runs
  // (AddPositiveBuckets) and merges, few and far apart (two buckets far
  // apart are kept sparse, without allocation) or many, with max_bins small
  // enough that the lowest fold: each sketch serialises exactly as the
  // model of its buckets does, and equals (both ways), answers and counts
  // buckets as the dense sketch that serialisation gives back.
  std::mt19937_64 rng(29);
  int sparse_seen = 0;
  int folded_seen = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    SCOPED_TRACE(trial);
    const uint32_t max_bins = rng() % 2 == 0 ? 16 : 48;
    const double alpha = rng() % 3 == 0 ? 0.05 : 0.01;
    auto build = [&](QuantileSketch* sketch, ModelSketch* model) {
      const int ops = 1 + static_cast<int>(rng() % (rng() % 4 == 0 ? 12 : 3));
      const double base = std::ldexp(1.0, static_cast<int>(rng() % 40) - 10);
      for (int op = 0; op < ops; ++op) {
        const uint64_t n = rng() % 8 == 0 ? (uint64_t{1} << 40) + rng() % 9 : 1 + rng() % 4;
        // Up to ~60 buckets (at 1%) above the base.
        const double value = base * std::pow(1.02, static_cast<double>(rng() % 60)) *
                             (1 + 0.001 * static_cast<double>(rng() % 10));
        switch (rng() % 6) {
          case 0:
          case 1:
            ASSERT_TRUE(sketch->Add(value, n));
            model->Add(*sketch, value, n);
            break;
          case 2: {
            const double v = rng() % 2 == 0 ? -value : 0.0;
            ASSERT_TRUE(sketch->Add(v, n));
            model->Add(*sketch, v, n);
            break;
          }
          case 3:
          case 4: {
            const int32_t index = sketch->Index(value);
            sketch->AddPositiveBucket(index, n, value, value * 1.01);
            model->AddBucket(index, n, value, value * 1.01);
            break;
          }
          default: {
            const int32_t first = sketch->Index(value);
            std::vector<uint64_t> run(1 + rng() % 5);
            for (uint64_t& c : run) c = rng() % 3 == 0 ? 0 : 1 + rng() % 3;
            sketch->AddPositiveBuckets(first, run, value, value * 2);
            uint64_t total = 0;
            for (uint64_t c : run) total += c;
            if (total > 0) {
              model->Extremes(value, value * 2);
              model->count += total;
              for (size_t i = 0; i < run.size(); ++i) {
                if (run[i] != 0) model->buckets[0][first + static_cast<int32_t>(i)] += run[i];
              }
            }
            break;
          }
        }
      }
    };
    QuantileSketch sketch(alpha, max_bins);
    ModelSketch model(alpha, max_bins);
    build(&sketch, &model);
    if (rng() % 3 == 0) {
      QuantileSketch other(alpha, max_bins);
      ModelSketch other_model(alpha, max_bins);
      build(&other, &other_model);
      ASSERT_TRUE(sketch.Merge(other).ok());
      model.Merge(other_model);
    }
    if (::testing::Test::HasFatalFailure()) return;
    const std::string bytes = sketch.Serialize();
    ASSERT_EQ(bytes, model.Serialized());
    auto dense = QuantileSketch::Deserialize(bytes);
    ASSERT_TRUE(dense.ok()) << dense.status();
    ASSERT_TRUE(sketch == *dense);
    ASSERT_TRUE(*dense == sketch);
    const QuantileSketch copy = sketch;
    ASSERT_TRUE(copy == sketch);
    ASSERT_EQ(copy.Serialize(), bytes);
    ASSERT_EQ(sketch.bucket_count(), dense->bucket_count());
    ASSERT_EQ(sketch.count(), model.count);
    if (sketch.empty()) continue;
    for (double q = 0; q <= 1.0; q += 0.05) ASSERT_EQ(sketch.Quantile(q), dense->Quantile(q)) << q;
    if (sketch.AllocatedBytes() == 0 && dense->AllocatedBytes() > 0) ++sparse_seen;
    for (const auto& raw : model.buckets) {
      if (!raw.empty() && raw.rbegin()->first - raw.begin()->first >= static_cast<int>(max_bins)) {
        ++folded_seen;
      }
    }
  }
  EXPECT_GT(sparse_seen, 200);
  EXPECT_GT(folded_seen, 100);
}

TEST(QuantileSketchTest, FewBucketsLiveInTheObject) {
  // Up to two buckets per sign need no allocation, next to each other or
  // far apart; a third does. Inline or allocated, the same values give the
  // same sketch and answers.
  QuantileSketch far;
  far.Add(100.0);
  far.Add(300.0);  // 55 buckets up
  far.Add(-100.0);
  far.Add(-300.0);
  EXPECT_EQ(far.bucket_count(), 4u);
  EXPECT_EQ(far.AllocatedBytes(), 0u);
  far.Add(200.0);
  EXPECT_GT(far.AllocatedBytes(), 0u);
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
