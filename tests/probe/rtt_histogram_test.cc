#include "probe/rtt_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "core/quantile_sketch.h"

namespace vantage::probe {
namespace {

// Feeds `samples` through an RttHistogram (spilling into a full sketch when
// refused, as the prober does) and returns the resulting sketch.
QuantileSketch ThroughHistogram(const std::vector<double>& samples, double alpha, uint32_t max_bins,
                                bool* spilled = nullptr) {
  const QuantileSketch params(alpha, max_bins);
  RttHistogram h;
  std::optional<QuantileSketch> full;
  double lo = samples.front(), hi = samples.front();
  for (double v : samples) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    if (!full) {
      if (h.Add(params.Index(v), params.max_bins())) continue;
      full.emplace(alpha, max_bins);
      h.MoveTo(&*full, lo, hi);
    }
    full->Add(v);
  }
  if (spilled) *spilled = full.has_value();
  if (full) return *full;
  QuantileSketch out(alpha, max_bins);
  h.MoveTo(&out, lo, hi);
  EXPECT_TRUE(h.empty());
  return out;
}

QuantileSketch Direct(const std::vector<double>& samples, double alpha, uint32_t max_bins) {
  QuantileSketch s(alpha, max_bins);
  for (double v : samples) s.Add(v);
  return s;
}

TEST(RttHistogramTest, GivesTheSameSketchAsAddingEverySample) {
  std::mt19937_64 rng(7);
  // Narrow (loopback), wide (20 µs .. 20 ms) and log-uniform over 6 decades.
  const std::pair<double, double> ranges[] = {{3, 12}, {20, 20'000}, {1, 1e6}};
  for (const auto& [lo, hi] : ranges) {
    for (const size_t n : {1u, 2u, 25u, 1000u}) {
      std::uniform_real_distribution<double> log_u(std::log(lo), std::log(hi));
      std::vector<double> samples;
      for (size_t i = 0; i < n; ++i) samples.push_back(std::exp(log_u(rng)));
      for (const uint32_t bins : {16u, 256u, 2048u}) {
        SCOPED_TRACE(testing::Message() << lo << ".." << hi << " n=" << n << " bins=" << bins);
        bool spilled = true;
        const QuantileSketch via = ThroughHistogram(samples, 0.01, bins, &spilled);
        EXPECT_FALSE(spilled);
        EXPECT_TRUE(via == Direct(samples, 0.01, bins));
        EXPECT_EQ(via.Quantile(0.5), Direct(samples, 0.01, bins).Quantile(0.5));
        EXPECT_EQ(via.max(), *std::max_element(samples.begin(), samples.end()));
        EXPECT_EQ(via.min(), *std::min_element(samples.begin(), samples.end()));
      }
    }
  }
}

TEST(RttHistogramTest, HoldsFourBytesPerOccupiedBucketAndGrowsByFour) {
  const QuantileSketch params(0.01, 256);
  RttHistogram h;
  // Three samples a decade apart (230 buckets of the sketch's range): three
  // entries, one step of storage.
  for (double v : {20.0, 200.0, 2'000.0}) ASSERT_TRUE(h.Add(params.Index(v), 256));
  EXPECT_EQ(h.buckets(), 3u);
  EXPECT_EQ(h.AllocatedBytes(), 16u);
  // The same bucket again costs nothing.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(h.Add(params.Index(20.0), 256));
  EXPECT_EQ(h.buckets(), 3u);
  EXPECT_EQ(h.AllocatedBytes(), 16u);
  ASSERT_TRUE(h.Add(params.Index(21.0), 256));
  ASSERT_TRUE(h.Add(params.Index(22.0), 256));
  EXPECT_EQ(h.buckets(), 5u);
  EXPECT_EQ(h.AllocatedBytes(), 32u);
  // Emptied by MoveTo, storage kept for the next window.
  QuantileSketch out(0.01, 256);
  h.MoveTo(&out, 20.0, 2'000.0);
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(out.count(), 105u);
  EXPECT_EQ(h.AllocatedBytes(), 32u);
}

TEST(RttHistogramTest, RefusesACountThatWouldOverflowAndTheSketchStaysExact) {
  std::vector<double> samples(70'000, 5.0);
  samples.push_back(9.0);
  bool spilled = false;
  const QuantileSketch via = ThroughHistogram(samples, 0.01, 256, &spilled);
  EXPECT_TRUE(spilled);
  EXPECT_TRUE(via == Direct(samples, 0.01, 256));
  EXPECT_EQ(via.count(), 70'001u);
}

}  // namespace
}  // namespace vantage::probe
