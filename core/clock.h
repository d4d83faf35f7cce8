// Clock: the one way Vantage code reads time, so tests can use a fake one.
//
// Now() is wall-clock time (CLOCK_REALTIME): it is comparable with kernel
// packet timestamps and is what reports carry. MonotonicNow() never jumps and
// is what timeouts and schedules use; it is an absl::Time only for
// arithmetic convenience, its epoch is arbitrary.
//
// Thread model: RealClock is stateless and safe from any thread. FakeClock is
// safe from any thread (its state is atomic); it only moves when told to.
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace vantage {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  virtual absl::Time MonotonicNow() const = 0;
};

class RealClock final : public Clock {
 public:
  // A process-wide instance; RealClock has no state.
  static RealClock& Get();
  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));
  FakeClock(const FakeClock&) = delete;
  FakeClock& operator=(const FakeClock&) = delete;

  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;

  // Moves both clocks forward. A negative duration is a test bug and aborts.
  void Advance(absl::Duration d);
  // Steps only the wall clock (as NTP might); the monotonic clock is unchanged.
  void SetWallTime(absl::Time t);

 private:
  std::atomic<int64_t> wall_ns_;
  std::atomic<int64_t> mono_ns_;
};

}  // namespace vantage
