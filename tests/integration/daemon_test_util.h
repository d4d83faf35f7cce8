#pragma once

// Helpers for integration tests that run Vantage's daemons as child processes:
// spawn with output to a log, read files, scrape /metrics on loopback, wait for
// a condition with a bound. Test-only; not thread-safe beyond what each says.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace vantage::testing {

// The whole file; empty if it can't be read.
std::string Slurp(const std::filesystem::path& path);

// GET /metrics from 127.0.0.1:port; empty on failure.
std::string ScrapeMetrics(uint16_t port);

// The value of one sample line ("name{labels} value") in an exposition; -1 if absent.
double MetricValue(const std::string& metrics, const std::string& series);

// fork + execv(argv[0], argv) with stdout and stderr appended to `log`.
pid_t Spawn(const std::vector<std::string>& argv, const std::filesystem::path& log);

// Polls pred every 50 ms until it holds or `limit` passes; returns its last value.
template <typename Pred>
bool WaitFor(Pred pred, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

}  // namespace vantage::testing
