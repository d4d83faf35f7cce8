#include "core/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace vantage {
namespace {

constexpr uint8_t kFormatVersion = 1;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutSigned(std::string* out, int64_t v) {
  PutVarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

void PutDouble(std::string* out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof(bits));
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}

  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      if (shift == 63 && byte > 1) return false;  // overflows 64 bits
      *v |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Signed32(int32_t* v) {
    uint64_t raw;
    if (!Varint(&raw)) return false;
    const auto decoded = static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
    if (decoded < std::numeric_limits<int32_t>::min() ||
        decoded > std::numeric_limits<int32_t>::max()) {
      return false;
    }
    *v = static_cast<int32_t>(decoded);
    return true;
  }
  bool Double(double* d) {
    if (bytes_.size() - pos_ < 8) return false;
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) {
      bits |= uint64_t{static_cast<uint8_t>(bytes_[pos_++])} << (8 * i);
    }
    std::memcpy(d, &bits, sizeof(bits));
    return true;
  }
  bool AtEnd() const { return pos_ == bytes_.size(); }

 private:
  absl::string_view bytes_;
  size_t pos_ = 0;
};

absl::Status Corrupt(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("corrupt quantile sketch: ", what));
}

// ceil(ln(magnitude) * inv_log_gamma) without std::log, for a magnitude
// >= QuantileSketch::kMinIndexable (a normal double). magnitude = 2^e (c_j + f),
// c_j = 1 + j/256 (the mantissa's top 8 bits), 0 <= f < 1/256, so
// ln(magnitude) = e ln 2 + ln c_j + ln(1 + r) with r = f / c_j < 1/256, and
// ln(1 + r) = r - r^2/2 + r^3/3 - r^4/4 + r^5/5 with a truncation error
// below r^6/6 < 7e-16. Every rounding adds up to well under 1e-12 in
// ln(magnitude), i.e. under 1e-8 index units even at alpha = 1e-4
// (ln gamma = 2e-4), as it does for std::log's own result. So a fast value
// more than kMargin away from an integer has the exact index's ceiling;
// returns false (take the exact path) when it is closer.
inline bool FastIndex(double magnitude, double inv_log_gamma, int32_t* index) {
  struct Table {
    double ln_c[256];
    double inv_c[256];
  };
  static const Table table = [] {
    Table t{};
    for (int j = 0; j < 256; ++j) {
      const double c = 1.0 + j / 256.0;
      t.ln_c[j] = std::log(c);
      t.inv_c[j] = 1.0 / c;
    }
    return t;
  }();
  constexpr double kLn2 = 0.6931471805599453094;
  constexpr double kMargin = 1e-6;
  uint64_t bits;
  std::memcpy(&bits, &magnitude, sizeof(bits));
  const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  const auto j = static_cast<size_t>((bits >> 44) & 0xff);
  // The mantissa bits below the top 8, as a fraction (exact: 44 bits).
  const double f = static_cast<double>(bits & ((uint64_t{1} << 44) - 1)) * 0x1p-52;
  const double r = f * table.inv_c[j];
  const double series = r * (1.0 + r * (-0.5 + r * (1.0 / 3 + r * (-0.25 + r * 0.2))));
  const double x = (exponent * kLn2 + (table.ln_c[j] + series)) * inv_log_gamma;
  auto ceiling = static_cast<int64_t>(x);  // truncates toward zero
  if (static_cast<double>(ceiling) < x) ++ceiling;
  const auto c = static_cast<double>(ceiling);
  *index = static_cast<int32_t>(ceiling);
  return c - x > kMargin && x - (c - 1.0) > kMargin;
}

}  // namespace

QuantileSketch::QuantileSketch(double alpha, uint32_t max_bins)
    : alpha_(std::clamp(alpha, 1e-4, 0.5)),
      inv_log_gamma_(1.0 / std::log(Gamma())),
      max_bins_(std::clamp<uint32_t>(max_bins, 16, kMaxBinsLimit)) {}

int32_t QuantileSketch::ExactIndex(double magnitude) const {
  // Bucket i holds (gamma^(i-1), gamma^i]. The bound keeps the index well
  // inside int32 for any finite double.
  return static_cast<int32_t>(std::ceil(std::log(magnitude) / std::log(Gamma())));
}

int32_t QuantileSketch::Index(double magnitude) const {
  int32_t index;
  return FastIndex(magnitude, inv_log_gamma_, &index) ? index : ExactIndex(magnitude);
}

double QuantileSketch::Value(int32_t index) const {
  // The point of the bucket whose relative distance to both edges is alpha.
  const double gamma = Gamma();
  return 2.0 * std::pow(gamma, index) / (gamma + 1.0);
}

void QuantileSketch::Store::MakeDense() {
  if (!sparse()) return;
  const int32_t first = low();
  const uint64_t low_count = counts[0];
  const uint64_t high_count = counts[1];
  counts.assign(Span(), 0);
  counts.front() = low_count;
  counts.back() = high_count;
  offset = first;
  second = kDense;
}

void QuantileSketch::Store::Add(int32_t index, uint64_t count, uint32_t max_bins) {
  if (sparse()) {
    if (index == second) {
      counts[1] += count;
      return;
    }
    if (index == low()) {
      counts[0] += count;
      return;
    }
    MakeDense();  // a third bucket
  }
  // Inside the current range: the top, hence the floor, stays (offset is
  // never below the floor), so nothing folds.
  const auto slot = static_cast<uint64_t>(int64_t{index} - offset);
  if (slot < counts.size()) {
    counts[slot] += count;
    return;
  }
  if (counts.empty()) {
    offset = index;
    counts.push_back(count);  // inline, unlike assign's general path
    return;
  }
  if (counts.size() == 1) {
    // A second bucket, not adjacent (that one is in the range above or
    // next to it): sparse when nothing folds and both are in its limits.
    const int32_t first = std::min(index, offset);
    const int32_t last = std::max(index, offset);
    if (int64_t{last} - first + 1 <= max_bins && first > -kSparseIndexLimit &&
        last < kSparseIndexLimit && int64_t{last} - first >= 2) {
      const uint64_t held = counts[0];
      counts.push_back(0);
      counts[index < offset ? 0 : 1] = count;
      counts[index < offset ? 1 : 0] = held;
      second = last;
      offset = static_cast<int32_t>(static_cast<uint32_t>(first) ^ kFlip);
      return;
    }
  }
  const int64_t top = std::max<int64_t>(index, int64_t{offset} + std::ssize(counts) - 1);
  // Everything below `floor` folds into `floor`.
  const int64_t floor = top - max_bins + 1;
  if (offset < floor) {
    // The top moved up: fold the buckets now below the floor.
    const auto drop = static_cast<size_t>(std::min<int64_t>(floor - offset, std::ssize(counts)));
    uint64_t folded = 0;
    for (size_t i = 0; i < drop; ++i) folded += counts[i];
    counts.erase(counts.begin(), counts.begin() + static_cast<ptrdiff_t>(drop));
    offset = static_cast<int32_t>(floor);
    if (counts.empty()) counts.assign(1, 0);
    counts[0] += folded;
  }
  const auto target = static_cast<int32_t>(std::max<int64_t>(index, floor));
  if (target < offset) {
    counts.insert(counts.begin(), static_cast<size_t>(offset - target), 0);
    offset = target;
  } else if (target >= offset + std::ssize(counts)) {
    counts.resize(static_cast<size_t>(target - offset) + 1, 0);
  }
  counts[static_cast<size_t>(target - offset)] += count;
}

template <typename Count>
void QuantileSketch::Store::AddRun(int32_t first_index, absl::Span<const Count> run,
                                   uint32_t max_bins) {
  const size_t n = run.size();
  if (counts.empty() && n <= max_bins) {
    // What the general path below gives: nothing folds.
    offset = first_index;
    counts.assign(run.begin(), run.end());
    return;
  }
  // The top, then the bottom, so that the range (and the floor) is final;
  // every other bucket then lands inside it, or below the floor, which is
  // then the offset: it folds there, as Add would fold it.
  Add(first_index + static_cast<int32_t>(n - 1), run[n - 1], max_bins);
  if (n == 1) return;
  Add(first_index, run[0], max_bins);
  if (n == 2) return;
  MakeDense();  // the two Adds may have made it sparse
  for (size_t i = 1; i + 1 < n; ++i) {
    const int64_t index = int64_t{first_index} + static_cast<int64_t>(i);
    counts[static_cast<size_t>(std::max<int64_t>(index, offset) - offset)] += run[i];
  }
}

void QuantileSketch::Store::MergeFrom(const Store& other, uint32_t max_bins) {
  // Other's top first: it fixes the merged floor before the rest arrives.
  other.Visit(/*descending=*/true, [&](int32_t index, uint64_t count) {
    if (count != 0) Add(index, count, max_bins);
    return false;
  });
}

bool QuantileSketch::Store::operator==(const Store& o) const {
  if (!sparse() && !o.sparse()) return offset == o.offset && counts == o.counts;
  if (sparse() && o.sparse()) {
    return offset == o.offset && second == o.second && counts == o.counts;
  }
  // A dense store equal to a sparse one holds the same two buckets (its
  // first and last) and zeros between them.
  const Store& s = sparse() ? *this : o;
  const Store& d = sparse() ? o : *this;
  return d.offset == s.low() && d.counts.size() == s.Span() && d.counts.front() == s.counts[0] &&
         d.counts.back() == s.counts[1] &&
         std::all_of(d.counts.begin() + 1, d.counts.end() - 1, [](uint64_t c) { return c == 0; });
}

bool QuantileSketch::Add(double value, uint64_t count) {
  if (value >= kMinIndexable && value <= std::numeric_limits<double>::max() && count_ != 0 &&
      count != 0) {
    // The common case first: a positive, finite, indexable value added to a
    // non-empty sketch. Same result as the general path below.
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
    count_ += count;
    int32_t index;
    if (!FastIndex(value, inv_log_gamma_, &index)) index = ExactIndex(value);
    const auto slot = static_cast<uint64_t>(int64_t{index} - positive_.offset);
    if (slot < positive_.counts.size()) {
      positive_.counts[slot] += count;
    } else {
      positive_.Add(index, count, max_bins_);
    }
    return true;
  }
  if (!std::isfinite(value)) {
    rejected_ += count;
    return false;
  }
  if (count == 0) return true;
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += count;
  const double magnitude = std::fabs(value);
  if (magnitude < kMinIndexable) {
    zero_count_ += count;
    return true;
  }
  Store& store = value > 0 ? positive_ : negative_;
  int32_t index;
  if (!FastIndex(magnitude, inv_log_gamma_, &index)) index = ExactIndex(magnitude);
  // Inside the current range (the common case): nothing folds (Store::Add).
  const auto slot = static_cast<uint64_t>(int64_t{index} - store.offset);
  if (slot < store.counts.size()) {
    store.counts[slot] += count;
  } else {
    store.Add(index, count, max_bins_);
  }
  return true;
}

void QuantileSketch::CountPositive(uint64_t count, double min, double max) {
  if (count_ == 0) {
    min_ = min;
    max_ = max;
  } else {
    min_ = std::min(min_, min);
    max_ = std::max(max_, max);
  }
  count_ += count;
}

void QuantileSketch::AddPositiveBucket(int32_t index, uint64_t count, double min, double max) {
  if (count == 0) return;
  CountPositive(count, min, max);
  positive_.Add(index, count, max_bins_);
}

void QuantileSketch::AddPositiveBuckets(int32_t first_index, absl::Span<const uint64_t> counts,
                                        double min, double max) {
  AddPositiveRun(first_index, counts, min, max);
}

void QuantileSketch::AddPositiveBuckets(int32_t first_index, absl::Span<const uint32_t> counts,
                                        double min, double max) {
  AddPositiveRun(first_index, counts, min, max);
}

template <typename Count>
void QuantileSketch::AddPositiveRun(int32_t first_index, absl::Span<const Count> counts, double min,
                                    double max) {
  const Count* const run = counts.data();
  size_t first = 0;
  size_t last = counts.size();
  while (first < last && run[first] == 0) ++first;
  if (first == last) return;  // nothing to add, as AddPositiveBucket of zeros
  while (run[last - 1] == 0) --last;
  uint64_t total = 0;
  for (size_t i = first; i < last; ++i) total += run[i];
  CountPositive(total, min, max);
  positive_.AddRun(first_index + static_cast<int32_t>(first), counts.subspan(first, last - first),
                   max_bins_);
}

absl::Status QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.alpha_ != alpha_ || other.max_bins_ != max_bins_) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot merge sketches with different parameters (alpha ", alpha_, " vs ",
                     other.alpha_, ", max_bins ", max_bins_, " vs ", other.max_bins_, ")"));
  }
  rejected_ += other.rejected_;
  if (other.count_ == 0) return absl::OkStatus();
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  zero_count_ += other.zero_count_;
  positive_.MergeFrom(other.positive_, max_bins_);
  negative_.MergeFrom(other.negative_, max_bins_);
  return absl::OkStatus();
}

void QuantileSketch::Clear() { *this = QuantileSketch(alpha_, max_bins_); }

double QuantileSketch::min() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : min_;
}

double QuantileSketch::max() const {
  return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : max_;
}

size_t QuantileSketch::bucket_count() const {
  size_t n = 0;
  for (const Store* s : {&positive_, &negative_}) {
    for (uint64_t c : s->counts) n += c != 0;  // either form
  }
  return n;
}

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1));
  uint64_t seen = 0;
  double result = max_;
  bool found = false;
  // Negative values, most negative (largest index) first.
  found = negative_.Visit(/*descending=*/true, [&](int32_t index, uint64_t count) {
    seen += count;
    if (seen <= rank) return false;
    result = -Value(index);
    return true;
  });
  if (!found) {
    seen += zero_count_;
    if (seen > rank) {
      result = 0;
      found = true;
    }
  }
  if (!found) {
    positive_.Visit(/*descending=*/false, [&](int32_t index, uint64_t count) {
      seen += count;
      if (seen <= rank) return false;
      result = Value(index);
      return true;
    });
  }
  // Exact extremes beat bucket midpoints.
  return std::clamp(result, min_, max_);
}

std::string QuantileSketch::Serialize() const {
  std::string out;
  out.push_back(static_cast<char>(kFormatVersion));
  PutDouble(&out, alpha_);
  PutVarint(&out, max_bins_);
  PutVarint(&out, count_);
  PutVarint(&out, rejected_);
  PutVarint(&out, zero_count_);
  if (count_ > 0) {
    PutDouble(&out, min_);
    PutDouble(&out, max_);
  }
  for (const Store* s : {&positive_, &negative_}) {
    // As the dense form, whichever the store's.
    PutVarint(&out, s->Span());
    if (s->counts.empty()) continue;
    bool first = true;
    s->Visit(/*descending=*/false, [&](int32_t index, uint64_t count) {
      if (first) PutSigned(&out, index);
      first = false;
      PutVarint(&out, count);
      if (s->sparse() && index != s->second) {
        // The zeros between the two buckets.
        for (int64_t i = int64_t{index} + 1; i < s->second; ++i) out.push_back(0);
      }
      return false;
    });
  }
  return out;
}

absl::StatusOr<QuantileSketch> QuantileSketch::Deserialize(absl::string_view bytes) {
  if (bytes.empty()) return Corrupt("empty");
  if (static_cast<uint8_t>(bytes[0]) != kFormatVersion) {
    return Corrupt(absl::StrCat("unknown version ", static_cast<int>(bytes[0])));
  }
  Reader r(bytes.substr(1));
  double alpha;
  uint64_t max_bins, count, rejected, zero;
  if (!r.Double(&alpha) || !r.Varint(&max_bins) || !r.Varint(&count) || !r.Varint(&rejected) ||
      !r.Varint(&zero)) {
    return Corrupt("truncated header");
  }
  if (!(alpha >= 1e-4 && alpha <= 0.5) || max_bins < 16 || max_bins > kMaxBinsLimit) {
    return Corrupt("parameters out of range");
  }
  QuantileSketch s(alpha, static_cast<uint32_t>(max_bins));
  if (s.alpha_ != alpha) return Corrupt("alpha not representable");
  s.count_ = count;
  s.rejected_ = rejected;
  s.zero_count_ = zero;
  if (count > 0) {
    if (!r.Double(&s.min_) || !r.Double(&s.max_)) return Corrupt("truncated min/max");
    if (!std::isfinite(s.min_) || !std::isfinite(s.max_) || s.min_ > s.max_) {
      return Corrupt("bad min/max");
    }
  }
  uint64_t total = zero;
  for (Store* st : {&s.positive_, &s.negative_}) {
    uint64_t n;
    if (!r.Varint(&n)) return Corrupt("truncated store");
    if (n == 0) continue;
    if (n > max_bins) return Corrupt("more buckets than max_bins");
    int32_t offset;
    if (!r.Signed32(&offset)) return Corrupt("truncated store");
    if (int64_t{offset} + static_cast<int64_t>(n) - 1 > std::numeric_limits<int32_t>::max()) {
      return Corrupt("bad bucket range");
    }
    st->offset = offset;
    st->counts.resize(n);
    for (auto& c : st->counts) {
      if (!r.Varint(&c)) return Corrupt("truncated buckets");
      if (total + c < total) return Corrupt("count overflow");
      total += c;
    }
    if (st->counts.front() == 0 || st->counts.back() == 0) return Corrupt("non-canonical store");
  }
  if (!r.AtEnd()) return Corrupt("trailing bytes");
  if (total != count) return Corrupt("bucket counts do not add up to the count");
  return s;
}

bool operator==(const QuantileSketch& a, const QuantileSketch& b) {
  return a.alpha_ == b.alpha_ && a.max_bins_ == b.max_bins_ && a.count_ == b.count_ &&
         a.zero_count_ == b.zero_count_ && a.rejected_ == b.rejected_ &&
         (a.count_ == 0 || (a.min_ == b.min_ && a.max_ == b.max_)) && a.positive_ == b.positive_ &&
         a.negative_ == b.negative_;
}

}  // namespace vantage
