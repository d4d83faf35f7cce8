// RingQueue: a FIFO on one contiguous buffer (internal to probe/). Unlike
// std::deque it reports the bytes it holds (capacity() * sizeof(T)), so
// memory budgets can be measured, not estimated, and it allocates nothing in
// steady state. It grows by half its capacity when full and never shrinks.
//
// Thread model: not synchronised.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace vantage::probe {

template <typename T>
class RingQueue {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t capacity() const { return buffer_.size(); }
  size_t allocated_bytes() const { return buffer_.capacity() * sizeof(T); }

  // The i-th element from the front, i < size().
  T& operator[](size_t i) { return buffer_[Wrap(head_ + i)]; }
  const T& operator[](size_t i) const { return buffer_[Wrap(head_ + i)]; }
  T& front() { return buffer_[head_]; }
  T& back() { return (*this)[size_ - 1]; }

  void push_back(const T& value) {
    if (size_ == buffer_.size()) Grow();
    buffer_[Wrap(head_ + size_)] = value;
    ++size_;
  }
  void pop_front() {
    head_ = Wrap(head_ + 1);
    --size_;
  }

 private:
  size_t Wrap(size_t i) const { return i >= buffer_.size() ? i - buffer_.size() : i; }
  void Grow() {
    const size_t capacity = buffer_.empty() ? 16 : buffer_.size() + buffer_.size() / 2;
    std::vector<T> grown;
    grown.reserve(capacity);
    for (size_t i = 0; i < size_; ++i) grown.push_back((*this)[i]);
    grown.resize(capacity);
    buffer_ = std::move(grown);
    head_ = 0;
  }

  std::vector<T> buffer_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace vantage::probe
