// RttHistogram: one flow's RTT samples of the open window, as a sorted list
// of (QuantileSketch bucket, 16-bit count) pairs — 4 bytes per bucket that
// holds a sample, where the sketch keeps 8 bytes for every bucket between its
// lowest and highest, and storage grown in steps of 4 buckets rather than
// doubled. A window of few samples (10,000 targets at 100,000 probes/s give
// each ~10 per second) then costs a few dozen bytes however far apart the
// samples are. The prober keeps one per flow for the 1 KiB per target budget
// and turns it into the window's QuantileSketch when the window is taken; the
// sketch is then the same as if every sample had been added to it.
//
// Beyond the sketch's max_bins the lowest buckets fold into the lowest kept
// one, exactly as QuantileSketch does. Add refuses a sample only when a
// 16-bit count would overflow or the buckets span more than 65,535 (what it
// holds stays correct); the caller then moves to a full QuantileSketch.
//
// Thread model: not synchronised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/quantile_sketch.h"

namespace vantage::probe {

class RttHistogram {
 public:
  // `index` from QuantileSketch::Index; `max_bins` the sketch's.
  // False: refused (see above).
  bool Add(int32_t index, uint32_t max_bins);
  // Adds every sample to `sketch` (min and max: the exact smallest and
  // largest sample) and empties the histogram, keeping its storage.
  void MoveTo(QuantileSketch* sketch, double min, double max);
  bool empty() const { return size_ == 0; }
  size_t buckets() const { return size_; }
  size_t AllocatedBytes() const { return size_t{capacity_} * sizeof(uint32_t); }

 private:
  // Entries: (index - base_) << 16 | count, sorted (by index).
  int32_t base_ = 0;
  uint16_t size_ = 0;
  uint16_t capacity_ = 0;
  std::unique_ptr<uint32_t[]> entries_;
};

}  // namespace vantage::probe
