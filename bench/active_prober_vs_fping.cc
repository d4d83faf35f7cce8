// The active prober beside fping 5.1, in the same run, on the same loopback
// targets (127.0.0.0/8 all answers on lo), same count and per-target period:
//
//  1. accuracy: on loopback the true RTT is a few µs, so the error of a tool
//     is its measured value: median and p99 − p50 spread over all probes, at
//     a low and a high aggregate rate;
//  2. the highest rate one core sustains with zero unaccounted losses
//     (every probe answered, no capture drops): the achieved send rate of
//     loss-free runs while the offered rate is raised (fping's includes its
//     own start-up and per-target bookkeeping: it is wall time);
//  3. memory per target at 10,000 targets.
//
// Both tools are pinned to the same CPU. Needs root (raw sockets, capture).
// Usage: active_prober_vs_fping [--quick]
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "probe/ping_session.h"

namespace {

double CpuSeconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

using vantage::IpAddress;
using vantage::probe::PingOptions;
using vantage::probe::PingSession;
using vantage::probe::ProbeTarget;

constexpr int kCpu = 1;

std::vector<IpAddress> LoopbackTargets(int n) {
  std::vector<IpAddress> out;
  for (int i = 0; i < n; ++i) {
    const int host = i + 1;  // 127.0.0.1, 127.0.0.2, ... 127.0.39.17
    const uint8_t b[4] = {127, static_cast<uint8_t>(host >> 16 & 0xff),
                          static_cast<uint8_t>(host >> 8 & 0xff),
                          static_cast<uint8_t>(host & 0xff)};
    out.push_back(IpAddress::V4Bytes(b));
  }
  return out;
}

struct ToolRun {
  bool ok = false;
  uint64_t sent = 0;
  uint64_t received = 0;
  double p50_us = 0;
  double p99_us = 0;
  double pps = 0;    // achieved send rate
  double cpu_s = 0;  // user + system CPU of the tool (kernel work in its syscalls included)
  std::string note;
};

double Quantile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

ToolRun RunOurs(const std::vector<IpAddress>& targets, int count, double period_ms, double pps_cap,
                size_t* bytes_per_target = nullptr, bool immediate = true) {
  PingOptions o;
  for (const auto& t : targets) o.targets.push_back(ProbeTarget{t, {}});
  o.count = count;
  o.interval = absl::Microseconds(static_cast<int64_t>(period_ms * 1000));
  o.timeout = absl::Milliseconds(500);
  o.max_pps = pps_cap;
  o.capture_buffer_bytes = 64 << 20;
  o.capture_immediate = immediate;
  const double cpu0 = CpuSeconds(RUSAGE_SELF);
  auto r = PingSession::Run(o);
  ToolRun run;
  run.cpu_s = CpuSeconds(RUSAGE_SELF) - cpu0;
  if (!r.ok()) {
    run.note = std::string(r.status().message());
    return run;
  }
  vantage::QuantileSketch all(0.01, 256);
  bool first = true;
  for (const auto& t : r->targets) {
    run.sent += t.merged.sent;
    run.received += t.merged.received;
    if (first) {
      all = t.merged.rtt_us;
      first = false;
    } else {
      (void)all.Merge(t.merged.rtt_us);
    }
  }
  run.ok =
      run.sent == run.received && r->capture.kernel_dropped == 0 && r->counters.send_errors == 0;
  run.p50_us = all.Quantile(0.5);
  run.p99_us = all.Quantile(0.99);
  const double span = absl::ToDoubleSeconds(r->send_span);
  run.pps = span > 0 ? static_cast<double>(run.sent) / span : 0;
  run.note = absl::StrFormat("kernel_dropped=%d send_errors=%d", r->capture.kernel_dropped,
                             r->counters.send_errors);
  if (bytes_per_target) *bytes_per_target = r->prober_bytes_per_target;
  return run;
}

ToolRun RunFping(const std::vector<IpAddress>& targets, int count, double period_ms,
                 double gap_ms) {
  // Targets from a file (-f) so 10,000 of them fit; -C prints every RTT.
  char path[] = "/tmp/vt-fping-targets-XXXXXX";
  const int fd = mkstemp(path);
  std::string list;
  for (const auto& t : targets) list += t.ToString() + "\n";
  (void)!write(fd, list.data(), list.size());
  close(fd);
  const std::string cmd =
      absl::StrFormat("taskset -c %d fping -q -C %d -p %.3f -i %.3f -t 500 -f %s 2>&1", kCpu, count,
                      period_ms, gap_ms, path);
  const absl::Time start = absl::Now();
  const double cpu0 = CpuSeconds(RUSAGE_CHILDREN);
  FILE* p = popen(cmd.c_str(), "r");
  ToolRun run;
  std::vector<double> rtts;
  char line[1 << 16];
  while (p != nullptr && std::fgets(line, sizeof(line), p) != nullptr) {
    std::istringstream in(line);
    std::string host, colon, value;
    in >> host >> colon;
    if (colon != ":") {
      run.note = line;
      continue;
    }
    while (in >> value) {
      ++run.sent;
      if (value == "-") continue;
      ++run.received;
      rtts.push_back(std::atof(value.c_str()) * 1000.0);
    }
  }
  const int status = p ? pclose(p) : -1;
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  run.cpu_s = CpuSeconds(RUSAGE_CHILDREN) - cpu0;
  unlink(path);
  const uint64_t expected = targets.size() * static_cast<uint64_t>(count);
  run.ok = status != -1 && run.sent == expected && run.received == expected;
  run.p50_us = Quantile(rtts, 0.5);
  run.p99_us = Quantile(rtts, 0.99);
  run.pps = wall > 0 ? static_cast<double>(run.sent) / wall : 0;
  if (run.sent != expected) run.note += absl::StrFormat(" (reported %d of %d)", run.sent, expected);
  return run;
}

void PrintAccuracy(const char* name, int n, int count, double period_ms) {
  const auto targets = LoopbackTargets(n);
  const double rate = n * 1000.0 / period_ms;
  ToolRun ours = RunOurs(targets, count, period_ms, rate * 2);
  ToolRun theirs = RunFping(targets, count, period_ms, 0);
  std::printf("\n[%s] %d targets x %d probes, period %.1f ms (%.0f probes/s offered)\n", name, n,
              count, period_ms, rate);
  std::printf("  %-10s %8s %8s %12s %14s %s\n", "tool", "sent", "recv", "median us", "p99-p50 us",
              "note");
  for (const auto& [tool, r] : {std::pair{"vantage", &ours}, std::pair{"fping", &theirs}}) {
    std::printf("  %-10s %8llu %8llu %12.2f %14.2f %s\n", tool,
                static_cast<unsigned long long>(r->sent),
                static_cast<unsigned long long>(r->received), r->p50_us, r->p99_us - r->p50_us,
                r->note.c_str());
  }
  std::printf("  ratio fping/vantage: median error %.2fx, spread %.2fx\n",
              theirs.p50_us / ours.p50_us,
              (theirs.p99_us - theirs.p50_us) / (ours.p99_us - ours.p50_us));
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(kCpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
  std::printf("active prober vs fping 5.1 on loopback, both pinned to CPU %d\n", kCpu);

  PrintAccuracy("accuracy, low rate", 10, quick ? 50 : 200, 10);
  PrintAccuracy("accuracy, high rate", 1000, quick ? 10 : 20, 20);

  const int n = 10'000;
  const auto targets = LoopbackTargets(n);
  std::printf("\n[highest sustained rate] %d targets, zero unaccounted losses required\n", n);
  std::printf("  %-10s %10s %10s %8s %8s %14s %s\n", "tool", "offered", "achieved", "sent", "recv",
              "probes/cpu-s", "ok");
  double best_ours = 0, best_fping = 0, best_ours_cpu = 0, best_fping_cpu = 0;
  size_t bytes_per_target = 0;
  for (double rate : {25'000.0, 50'000.0, 100'000.0, 150'000.0, 200'000.0, 300'000.0}) {
    const int count = std::max(2, static_cast<int>(rate * (quick ? 1.0 : 2.0) / n));
    const double period_ms = n * 1000.0 / rate;
    size_t bytes = 0;
    ToolRun r = RunOurs(targets, count, period_ms, rate * 1.05, &bytes, /*immediate=*/false);
    const bool ok = r.ok;
    std::printf("  %-10s %10.0f %10.0f %8llu %8llu %14.0f %s %s\n", "vantage", rate, r.pps,
                static_cast<unsigned long long>(r.sent),
                static_cast<unsigned long long>(r.received), static_cast<double>(r.sent) / r.cpu_s,
                ok ? "yes" : "NO", r.note.c_str());
    if (ok) best_ours = std::max(best_ours, r.pps);
    if (ok) best_ours_cpu = std::max(best_ours_cpu, static_cast<double>(r.sent) / r.cpu_s);
    if (bytes_per_target == 0) bytes_per_target = bytes;
    // Stop once the offered rate is no longer achieved (or losses appear).
    if (!ok || r.pps < 0.8 * rate) break;
  }
  for (double rate : {2'000.0, 5'000.0, 10'000.0, 25'000.0, 50'000.0, 100'000.0}) {
    // fping aborts beyond ~65k probes in flight per 10 s: keep runs short.
    const int count = std::max(2, static_cast<int>(rate * (quick ? 1.0 : 2.0) / n));
    const double period_ms = n * 1000.0 / rate;
    ToolRun r = RunFping(targets, count, period_ms, 1000.0 / rate);
    const bool ok = r.ok;
    std::printf("  %-10s %10.0f %10.0f %8llu %8llu %14.0f %s %s\n", "fping", rate, r.pps,
                static_cast<unsigned long long>(r.sent),
                static_cast<unsigned long long>(r.received), static_cast<double>(r.sent) / r.cpu_s,
                ok ? "yes" : "NO", r.note.c_str());
    if (ok) best_fping = std::max(best_fping, r.pps);
    if (ok) best_fping_cpu = std::max(best_fping_cpu, static_cast<double>(r.sent) / r.cpu_s);
    if (!ok || r.pps < 0.8 * rate) break;
  }
  std::printf("  highest sustained: vantage %.0f probes/s, fping %.0f probes/s, ratio %.2fx\n",
              best_ours, best_fping, best_fping > 0 ? best_ours / best_fping : 0.0);
  std::printf(
      "  probes per CPU-second (capacity of one core, independent of other load): vantage %.0f, "
      "fping %.0f, ratio %.2fx\n",
      best_ours_cpu, best_fping_cpu, best_fping_cpu > 0 ? best_ours_cpu / best_fping_cpu : 0.0);
  char load[64] = {};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    (void)!std::fgets(load, sizeof(load), f);
    std::fclose(f);
  }
  std::printf("  load average at the end (2 shared cores): %s", load);
  std::printf("\n[memory] prober structures at %d targets: %zu bytes per target (budget 1024)\n", n,
              bytes_per_target);
  return 0;
}
