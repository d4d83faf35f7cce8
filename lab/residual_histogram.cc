#include "lab/residual_histogram.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace vantage::lab {
namespace {

// Upper bounds (us) of the coarse buckets; the last bucket is open.
constexpr int kCoarseBoundsUs[] = {-50, -20, -10, -5, -2, 2, 5, 10, 20, 50};

}  // namespace

void ResidualHistogram::Add(absl::Duration residual) {
  const double us = std::floor(absl::ToDoubleMicroseconds(residual));
  size_t bin = 0;
  if (us >= kRangeUs) {
    bin = bins_.size() - 1;
  } else if (us >= -kRangeUs) {
    bin = static_cast<size_t>(us + kRangeUs) + 1;
  }
  ++bins_[bin];
  ++count_;
}

double ResidualHistogram::QuantileUs(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  // The rank of the quantile among count_ samples, 1-based.
  const auto rank =
      static_cast<uint64_t>(std::max(1.0, std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t b = 0; b < bins_.size(); ++b) {
    seen += bins_[b];
    if (seen < rank) continue;
    if (b == 0) return -kRangeUs;
    if (b == bins_.size() - 1) return kRangeUs;
    return static_cast<double>(static_cast<int>(b) - 1 - kRangeUs) + 0.5;
  }
  return kRangeUs;
}

nlohmann::json ResidualHistogram::ToJson(bool buckets) const {
  auto quantile = [this](double q) -> nlohmann::json {
    const double v = QuantileUs(q);
    return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
  };
  nlohmann::json j = {{"count", count_},       {"p1", quantile(0.01)},  {"p10", quantile(0.10)},
                      {"p50", quantile(0.50)}, {"p90", quantile(0.90)}, {"p99", quantile(0.99)}};
  if (!buckets) return j;
  nlohmann::json b = nlohmann::json::object();
  size_t bin = 0;  // walks bins_ once; every coarse bound is a whole microsecond
  constexpr size_t kCoarse = std::size(kCoarseBoundsUs);
  for (size_t c = 0; c <= kCoarse; ++c) {
    uint64_t n = 0;
    // Bins whose lower edge is below the bound (all the rest for the last).
    while (bin < bins_.size()) {
      const int lower =
          bin == 0 ? std::numeric_limits<int>::min() : static_cast<int>(bin) - 1 - kRangeUs;
      if (c < kCoarse && lower >= kCoarseBoundsUs[c]) break;
      n += bins_[bin++];
    }
    b[c < kCoarse ? absl::StrCat("<", kCoarseBoundsUs[c])
                  : absl::StrCat(">=", kCoarseBoundsUs[kCoarse - 1])] = n;
  }
  j["buckets"] = b;
  return j;
}

}  // namespace vantage::lab
