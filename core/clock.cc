#include "core/clock.h"

#include <time.h>

#include <cstdlib>

namespace vantage {
namespace {

absl::Time ReadClock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return absl::TimeFromTimespec(ts);
}

}  // namespace

RealClock& RealClock::Get() {
  static RealClock clock;
  return clock;
}

absl::Time RealClock::Now() const { return ReadClock(CLOCK_REALTIME); }

absl::Time RealClock::MonotonicNow() const { return ReadClock(CLOCK_MONOTONIC); }

FakeClock::FakeClock(absl::Time start)
    : wall_ns_(absl::ToUnixNanos(start)), mono_ns_(1'000'000'000) {}

absl::Time FakeClock::Now() const { return absl::FromUnixNanos(wall_ns_.load()); }

absl::Time FakeClock::MonotonicNow() const { return absl::FromUnixNanos(mono_ns_.load()); }

void FakeClock::Advance(absl::Duration d) {
  if (d < absl::ZeroDuration()) std::abort();
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  wall_ns_.fetch_add(ns);
  mono_ns_.fetch_add(ns);
}

void FakeClock::SetWallTime(absl::Time t) { wall_ns_.store(absl::ToUnixNanos(t)); }

}  // namespace vantage
