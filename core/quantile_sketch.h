// QuantileSketch: a mergeable quantile sketch with relative-error guarantees
// (the DDSketch construction: logarithmic buckets of ratio
// gamma = (1 + alpha) / (1 - alpha)).
//
// Guarantees:
//   * Quantile(q) is within a relative `alpha` of the exact q-quantile of the
//     added values (lower-rank convention: the value of rank floor(q*(n-1))),
//     as long as no bucket was collapsed (see max_bins below).
//   * Merge is exact: merging the sketches of any split of a data set gives
//     the same sketch (operator==) as adding the whole data set to one.
//   * Memory is bounded: at most `max_bins` buckets per sign. When a sketch
//     would need more, the lowest buckets are folded into the lowest kept one,
//     so high quantiles (the tail we care about) keep their accuracy and only
//     the lowest quantiles lose it. The fold depends only on the largest index
//     seen, which is what keeps Merge exact.
//   * Min, max and count are exact. (No sum: float sums are not associative,
//     and exact merging is worth more than a mean.)
//
// Units are the caller's; Vantage records times in microseconds. Values with
// magnitude below kMinIndexable count as zero. NaN and infinities are
// rejected by Add (counted in rejected()) — never silently mixed in.
//
// Thread model: a value type; not synchronised.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace vantage {

class QuantileSketch {
 public:
  static constexpr double kDefaultAlpha = 0.01;
  static constexpr uint32_t kDefaultMaxBins = 2048;
  static constexpr double kMinIndexable = 1e-9;
  // Upper bound accepted by Deserialize, so a hostile report can't make us
  // allocate more (a full sketch at the default is ~16 KiB).
  static constexpr uint32_t kMaxBinsLimit = 1 << 16;

  explicit QuantileSketch(double alpha = kDefaultAlpha, uint32_t max_bins = kDefaultMaxBins);

  // Adds `value` `count` times. Returns false (and counts it) for NaN or inf.
  bool Add(double value, uint64_t count = 1);
  // Fails (and changes nothing) when the two sketches have different
  // parameters.
  absl::Status Merge(const QuantileSketch& other);
  void Clear();

  // q in [0, 1]; NaN when empty.
  double Quantile(double q) const;
  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  double min() const;
  double max() const;
  uint64_t rejected() const { return rejected_; }
  double alpha() const { return alpha_; }
  uint32_t max_bins() const { return max_bins_; }
  // Number of non-empty buckets (a measure of memory).
  size_t bucket_count() const;
  // For compact front ends that count values per bucket themselves
  // (probe/rtt_histogram.h, with Index() below): adding `count` values >=
  // kMinIndexable known to fall in bucket `index`, the smallest and largest
  // of all values added this way being `min` and `max`. The result equals
  // adding the values one by one.
  void AddPositiveBucket(int32_t index, uint64_t count, double min, double max);
  // The same for a run of buckets: counts[i] values in bucket first_index +
  // i (zeros allowed anywhere). Equals AddPositiveBucket per non-zero bucket
  // (in any order: the result does not depend on it), without a range
  // change per bucket: into an empty sketch it is one copy.
  void AddPositiveBuckets(int32_t first_index, absl::Span<const uint64_t> counts, double min,
                          double max);
  // The same from 32-bit counts (no widened copy first).
  void AddPositiveBuckets(int32_t first_index, absl::Span<const uint32_t> counts, double min,
                          double max);
  // Bytes allocated outside the object (the bucket vectors' capacities;
  // up to kInlineBuckets buckets per sign live in the object itself).
  size_t AllocatedBytes() const {
    return (positive_.AllocatedCounts() + negative_.AllocatedCounts()) * sizeof(uint64_t);
  }

  // The bucket index of a magnitude in [kMinIndexable, max double]:
  // ceil(log(magnitude) / log(gamma)). Index() computes it without std::log
  // (exponent bits plus a 256-entry table and a short series), falling back
  // to ExactIndex() whenever the fast value is within 1e-6 of a bucket edge,
  // so both always agree (public for the test that checks they do).
  int32_t Index(double magnitude) const;
  int32_t ExactIndex(double magnitude) const;

  // A compact, versioned, endian-independent encoding (varints).
  std::string Serialize() const;
  // Validates everything: version, parameters, bounds, counts adding up,
  // trailing bytes. Untrusted input gets an error, never a crash.
  static absl::StatusOr<QuantileSketch> Deserialize(absl::string_view bytes);

  friend bool operator==(const QuantileSketch& a, const QuantileSketch& b);

 private:
  // Counts `count` positive values in [min, max] (their buckets added apart).
  void CountPositive(uint64_t count, double min, double max);
  template <typename Count>
  void AddPositiveRun(int32_t first_index, absl::Span<const Count> counts, double min, double max);
  // Buckets of one sign, in one of two forms (both allocate nothing up to
  // kInlineBuckets counts: no allocation for the many sketches of a few
  // values, e.g. a client prefix's in a minute; as small as a std::vector):
  //   * dense (`second` == kDense): counts[i] is the count of bucket index
  //     offset + i. Always canonical: empty, or first and last bucket
  //     non-zero (so the top bucket is the highest index ever added, which
  //     fixes the collapse floor).
  //   * sparse: exactly two buckets, not adjacent, within max_bins of each
  //     other (nothing folds) and both within kSparseIndexLimit of 0 (as
  //     every index of a value is): counts = {the low bucket's, the high
  //     one's}, `second` the high one's index and `offset` the low one's
  //     with its top bit flipped, so that the range check of the fast
  //     paths, `index - offset < counts.size()`, fails for every index
  //     within the limit (they are 2^30 or more from a flipped offset) and
  //     they fall through to Add, which knows the form. It is what a
  //     one-bucket store becomes when a far bucket arrives (two RTT
  //     buckets ~25 apart would otherwise allocate a 26-count array); any
  //     third bucket makes it dense.
  // Both forms of the same buckets are equal (operator==) and serialise
  // alike (as the dense form).
  static constexpr size_t kInlineBuckets = 2;
  struct Store {
    static constexpr int32_t kDense = std::numeric_limits<int32_t>::min();
    static constexpr int32_t kSparseIndexLimit = 1 << 29;
    static constexpr uint32_t kFlip = 0x80000000u;

    int32_t offset = 0;
    int32_t second = kDense;
    absl::InlinedVector<uint64_t, kInlineBuckets> counts;

    bool sparse() const { return second != kDense; }
    // Sparse: the low bucket's index.
    int32_t low() const { return static_cast<int32_t>(static_cast<uint32_t>(offset) ^ kFlip); }
    size_t AllocatedCounts() const {
      return counts.capacity() > kInlineBuckets ? counts.capacity() : 0;
    }
    // Calls f(index, count) for every bucket from the lowest index up
    // (`descending`: from the highest down), zeros included (dense), until
    // f returns true; returns whether it did.
    template <typename F>
    bool Visit(bool descending, F f) const {
      if (sparse()) {
        return descending ? f(second, counts[1]) || f(low(), counts[0])
                          : f(low(), counts[0]) || f(second, counts[1]);
      }
      const size_t n = counts.size();
      for (size_t k = 0; k < n; ++k) {
        const size_t i = descending ? n - 1 - k : k;
        if (f(offset + static_cast<int32_t>(i), counts[i])) return true;
      }
      return false;
    }
    // Dense: highest index - lowest + 1 (0 when empty).
    size_t Span() const {
      return sparse() ? static_cast<size_t>(int64_t{second} - low() + 1) : counts.size();
    }

    // `count` > 0.
    void Add(int32_t index, uint64_t count, uint32_t max_bins);
    // counts[i] at first_index + i; the first and last counts non-zero.
    template <typename Count>
    void AddRun(int32_t first_index, absl::Span<const Count> counts, uint32_t max_bins);
    void MergeFrom(const Store& other, uint32_t max_bins);
    // The same buckets in the dense form.
    void MakeDense();
    bool operator==(const Store& o) const;
  };

  double Value(int32_t index) const;

  // (1 + alpha) / (1 - alpha) and its log are computed where needed (the
  // exact index and bucket values: neither on the common path), so that a
  // sketch is two cache lines.
  double Gamma() const { return (1 + alpha_) / (1 - alpha_); }

  double alpha_;
  double inv_log_gamma_;  // 1 / ln(gamma)
  uint32_t max_bins_;
  Store positive_;
  Store negative_;
  uint64_t zero_count_ = 0;
  uint64_t count_ = 0;
  double min_ = 0;
  double max_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace vantage
