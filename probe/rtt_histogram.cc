#include "probe/rtt_histogram.h"

#include <algorithm>

namespace vantage::probe {

bool RttHistogram::Add(int32_t index, uint32_t max_bins) {
  if (size_ == 0) base_ = index - 0x8000;  // room on both sides
  int64_t offset = int64_t{index} - base_;
  if (offset < 0 || offset > 0xffff) return false;
  uint32_t* begin = entries_.get();
  if (size_ > 0) {
    // As QuantileSketch does beyond max_bins: buckets below the floor fold
    // into it (which gives the same counts in any order of samples).
    const int64_t top = std::max<int64_t>(offset, begin[size_ - 1] >> 16);
    const int64_t floor = top - int64_t{max_bins} + 1;
    offset = std::max(offset, floor);
    if ((begin[0] >> 16) < floor) {
      size_t below = 0;
      uint64_t folded = 0;
      while (below < size_ && (begin[below] >> 16) < floor) folded += begin[below++] & 0xffff;
      const bool floor_held = below < size_ && (begin[below] >> 16) == floor;
      if (folded + (floor_held ? begin[below] & 0xffff : 0) > 0xffff) return false;
      // Keep one entry for the floor: the existing one, or the last folded.
      const size_t drop = floor_held ? below : below - 1;
      begin[drop] = floor_held ? begin[drop] + static_cast<uint32_t>(folded)
                               : static_cast<uint32_t>(floor) << 16 | static_cast<uint32_t>(folded);
      std::copy(begin + drop, begin + size_, begin);
      size_ = static_cast<uint16_t>(size_ - drop);
    }
  }
  const auto key = static_cast<uint32_t>(offset) << 16;
  uint32_t* end = begin + size_;
  uint32_t* it = std::lower_bound(begin, end, key);
  if (it != end && (*it >> 16) == offset) {
    if ((*it & 0xffff) == 0xffff) return false;
    ++*it;
    return true;
  }
  if (size_ == 0xffff - 4) return false;
  const auto pos = static_cast<size_t>(it - begin);
  if (size_ == capacity_) {
    const auto grown = static_cast<uint16_t>(capacity_ + 4);
    auto entries = std::make_unique<uint32_t[]>(grown);
    std::copy(begin, end, entries.get());
    entries_ = std::move(entries);
    capacity_ = grown;
    begin = entries_.get();
    end = begin + size_;
  }
  std::copy_backward(begin + pos, end, end + 1);
  begin[pos] = key | 1;
  ++size_;
  return true;
}

void RttHistogram::MoveTo(QuantileSketch* sketch, double min, double max) {
  for (uint16_t i = 0; i < size_; ++i) {
    sketch->AddPositiveBucket(base_ + static_cast<int32_t>(entries_[i] >> 16), entries_[i] & 0xffff,
                              min, max);
  }
  size_ = 0;
}

}  // namespace vantage::probe
