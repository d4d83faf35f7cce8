// The active prober beside fping 5.1, in the same run, on the same loopback
// targets (127.0.0.0/8 all answers on lo), same count and per-target period:
//
//  1. accuracy: on loopback the true RTT is a few µs, so the error of a tool
//     is its measured value: median and p99 − p50 spread over all probes, at
//     a low and a high aggregate rate. fping prints whole µs (ms with three
//     decimals), so the verdict compares both at that resolution: our RTTs
//     rounded to whole µs exactly as fping rounds its own (rounding is
//     monotonic, so the rounded quantiles are those of the rounded samples);
//     ours are also printed in full. fping runs with -i 0: each period it
//     sends to all targets back to back, while the prober spreads targets
//     over the period (random phases) and sends what fell due in one batch
//     per wake-up (timer coalescing: about 256 probes, at most a quarter of
//     the period: 5 ms at the high rate, 2.5 ms at the low one; see
//     ActiveProber::Options::coalesce_probes) — on loopback a probe's RTT is the kernel's
//     work on it, which is faster for packets that follow others closely
//     (warm caches), see --coalesce-us;
//  2. the highest rate one core sustains with zero unaccounted losses, at
//     10,000 targets. Both tools climb the same ladder of offered rates with
//     the same targets, the same probes per target (≈2 s of probing per
//     rung) and a per-probe timeout of 500 ms, pinned to the same CPU, and
//     stop at the first rung that is not loss-free or whose achieved rate is
//     not 5% above the best so far (on a shared machine a rung may fall
//     short of its offered rate for want of CPU alone). A rung is loss-free when every probe sent
//     is accounted for and answered:
//       vantage: received == sent (each probe is resolved exactly once as
//         received or lost-with-a-reason; lost must be 0), no capture drops
//         (pcap ps_drop), no send errors, no probe given up (evicted) or
//         left unsent (TCP port pool);
//       fping: it reports a result for every one of targets × count probes
//         and none of them is "-" (no reply).
//     Achieved rate = probes / probing time: for vantage from the first
//     probe until every probe is resolved, for fping the process's wall
//     time (its start-up is a few ms of ≈2 s). The highest achieved rate of
//     a loss-free rung is the tool's figure. The search runs --runs times
//     (default 3); each prints the load average, since the machine is
//     shared. Probes per CPU-second (user + system CPU of the probing: for
//     vantage its thread from first probe to last reply, for fping the
//     whole process) is the capacity of one core independent of other load;
//     on loopback it includes the kernel's work of answering the probes.
//  3. memory per target at 10,000 targets: every allocation the prober holds
//     on the last loss-free rung (ActiveProber::Memory: capacities, when all
//     probes are resolved) divided by the targets. The capture ring is a
//     fixed cost, printed apart.
//
// Needs root (raw sockets, capture).
// Usage: see kUsage (--help).
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
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

// How the prober runs: the rate search takes TPACKET_V3 blocks (fewer
// wake-ups) and the default sketch; the accuracy sections immediate
// delivery and a fine sketch (0.05%: the quantiles are not the sketch's
// error). --coalesce-us and --capture-blocks change the accuracy sections
// for A/B runs.
struct OursConfig {
  bool immediate = true;
  double alpha = 0.01;
  uint32_t bins = 256;
  std::optional<absl::Duration> coalescing;
  int capture_buffer_bytes = 64 << 20;
};

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
  double p90_us = 0;
  double p999_us = 0;
  double pps = 0;    // achieved rate (see the header)
  double cpu_s = 0;  // user + system CPU of the probing (kernel work in its syscalls included)
  std::string note;
};

struct Memory {
  vantage::probe::ActiveProber::MemoryUsage usage;  // whole prober
  size_t per_target = 0;
  double rate = 0;  // the rung's offered rate
  size_t capture_buffer = 0;
  double achieved = 0;
};

double Quantile(std::vector<double>& v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

ToolRun RunOurs(const std::vector<IpAddress>& targets, int count, double period_ms, double pps_cap,
                const OursConfig& config, Memory* memory = nullptr) {
  PingOptions o;
  o.sketch_alpha = config.alpha;
  o.sketch_max_bins = config.bins;
  o.timer_coalescing = config.coalescing;
  for (const auto& t : targets) o.targets.push_back(ProbeTarget{t, {}});
  o.count = count;
  o.interval = absl::Microseconds(static_cast<int64_t>(period_ms * 1000));
  o.timeout = absl::Milliseconds(500);
  o.max_pps = pps_cap;
  o.capture_buffer_bytes = config.capture_buffer_bytes;
  o.capture_immediate = config.immediate;
  auto r = PingSession::Run(o);
  ToolRun run;
  if (!r.ok()) {
    run.note = std::string(r.status().message());
    return run;
  }
  vantage::QuantileSketch all(config.alpha, config.bins);
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
  const auto& c = r->counters;
  const uint64_t expected = targets.size() * static_cast<uint64_t>(count);
  run.ok = run.sent == expected && run.sent == run.received && r->capture.kernel_dropped == 0 &&
           c.send_errors == 0 && c.evicted == 0 && c.tcp_ports_exhausted == 0;
  run.p50_us = all.Quantile(0.5);
  run.p90_us = all.Quantile(0.9);
  run.p999_us = all.Quantile(0.999);
  run.p99_us = all.Quantile(0.99);
  run.cpu_s = absl::ToDoubleSeconds(r->probing_cpu);
  const double span = absl::ToDoubleSeconds(r->elapsed);
  run.pps = span > 0 ? static_cast<double>(run.sent) / span : 0;
  run.note = absl::StrFormat("kernel_dropped=%d send_errors=%d evicted=%d",
                             r->capture.kernel_dropped, c.send_errors, c.evicted);
  if (memory) {
    *memory = Memory{r->memory, r->bytes_per_target, pps_cap,
                     static_cast<size_t>(o.capture_buffer_bytes)};
  }
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
  run.p90_us = Quantile(rtts, 0.9);
  run.p99_us = Quantile(rtts, 0.99);
  run.p999_us = Quantile(rtts, 0.999);
  run.pps = wall > 0 ? static_cast<double>(run.sent) / wall : 0;
  if (run.sent != expected) run.note += absl::StrFormat(" (reported %d of %d)", run.sent, expected);
  return run;
}

std::string LoadAverage() {
  char load[64] = {};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    (void)!std::fgets(load, sizeof(load), f);
    std::fclose(f);
  }
  std::string text(load);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// fping prints RTTs in ms with three decimals: whole µs, rounded to nearest.
double AsFpingPrints(double us) { return std::round(us); }

// One accuracy measurement at fping's resolution (see PrintAccuracy).
struct AccuracyFigures {
  double our_median = 0;
  double their_median = 0;
  double our_spread = 0;
  double their_spread = 0;
};

AccuracyFigures PrintAccuracy(const char* name, int n, int count, double period_ms,
                              const OursConfig& config) {
  const auto targets = LoopbackTargets(n);
  const double rate = n * 1000.0 / period_ms;
  std::printf(
      "\n[%s] %d targets x %d probes, period %.1f ms (%.0f probes/s offered); load average "
      "before: %s\n",
      name, n, count, period_ms, rate, LoadAverage().c_str());
  ToolRun ours = RunOurs(targets, count, period_ms, rate * 2, config);
  ToolRun theirs = RunFping(targets, count, period_ms, 0);
  std::printf("  %-10s %8s %8s %10s %11s %8s %8s %8s  %s\n", "tool", "sent", "recv", "median us",
              "p99-p50 us", "p90", "p99", "p99.9", "note");
  for (const auto& [tool, r] : {std::pair{"vantage", &ours}, std::pair{"fping", &theirs}}) {
    std::printf("  %-10s %8llu %8llu %10.2f %11.2f %8.2f %8.2f %8.2f  %s\n", tool,
                static_cast<unsigned long long>(r->sent),
                static_cast<unsigned long long>(r->received), r->p50_us, r->p99_us - r->p50_us,
                r->p90_us, r->p99_us, r->p999_us, r->note.c_str());
  }
  // The comparison at fping's resolution: our RTTs rounded to whole µs as
  // fping prints its own. Rounding is monotonic, so the rounded sample's
  // quantiles are the rounded quantiles; both figures then come from the
  // same measurement function, neither tool's resolution favoured.
  const double our_median = AsFpingPrints(ours.p50_us);
  const double our_spread = AsFpingPrints(ours.p99_us) - our_median;
  const double their_spread = theirs.p99_us - theirs.p50_us;
  std::printf(
      "  at fping's 1 us resolution: median vantage %.0f, fping %.0f; p99-p50 vantage %.0f, fping "
      "%.0f -> median %s, spread %s (goal: no worse than fping)\n",
      our_median, theirs.p50_us, our_spread, their_spread,
      our_median <= theirs.p50_us ? "ok" : "WORSE", our_spread <= their_spread ? "ok" : "WORSE");
  std::printf("  ratio fping/vantage (vantage at full resolution): median %.2fx, spread %.2fx\n",
              theirs.p50_us / ours.p50_us, their_spread / (ours.p99_us - ours.p50_us));
  return AccuracyFigures{our_median, theirs.p50_us, our_spread, their_spread};
}

// Over --accuracy-runs repetitions of one section: the median of each
// figure, and in how many runs ours was no worse than fping's.
void PrintAccuracySummary(const char* name, const std::vector<AccuracyFigures>& runs) {
  std::vector<double> om, tm, os, ts;
  int median_ok = 0;
  int spread_ok = 0;
  int spread_lower = 0;
  for (const AccuracyFigures& f : runs) {
    om.push_back(f.our_median);
    tm.push_back(f.their_median);
    os.push_back(f.our_spread);
    ts.push_back(f.their_spread);
    median_ok += f.our_median <= f.their_median;
    spread_ok += f.our_spread <= f.their_spread;
    spread_lower += f.our_spread < f.their_spread;
  }
  const size_t n = runs.size();
  std::printf(
      "  [%s, %zu runs, fping's 1 us resolution] median of medians vantage %.0f, fping %.0f (ours "
      "no worse in %d/%zu); median of p99-p50 vantage %.0f, fping %.0f (ours no worse in %d/%zu, "
      "lower in %d/%zu)\n",
      name, n, Quantile(om, 0.5), Quantile(tm, 0.5), median_ok, n, Quantile(os, 0.5),
      Quantile(ts, 0.5), spread_ok, n, spread_lower, n);
}

struct Search {
  double best_pps = 0;
  double best_cpu = 0;  // probes per CPU-second on the best rung
};

void PrintRung(const char* tool, double rate, const ToolRun& r) {
  std::printf("  %-8s %9.0f %9.0f %8llu %8llu %13.0f  %-3s %s\n", tool, rate, r.pps,
              static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.received),
              r.cpu_s > 0 ? static_cast<double>(r.sent) / r.cpu_s : 0.0, r.ok ? "yes" : "NO",
              r.note.c_str());
}

// The same ladder for both tools (see the header).
template <typename RunRung>
Search Climb(const char* tool, int n, bool quick, RunRung run_rung) {
  Search s;
  for (double rate : {2'000.0, 5'000.0, 10'000.0, 25'000.0, 50'000.0, 75'000.0, 100'000.0,
                      150'000.0, 200'000.0, 300'000.0}) {
    const int count = std::max(2, static_cast<int>(rate * (quick ? 1.0 : 2.0) / n));
    const double period_ms = n * 1000.0 / rate;
    const ToolRun r = run_rung(rate, count, period_ms);
    PrintRung(tool, rate, r);
    if (!r.ok) break;
    // Climb while the achieved rate still rises by 5%: on a shared machine
    // a rung can fall short of its offered rate for want of CPU alone.
    const bool rising = r.pps > 1.05 * s.best_pps;
    if (r.pps > s.best_pps) {
      s.best_pps = r.pps;
      s.best_cpu = r.cpu_s > 0 ? static_cast<double>(r.sent) / r.cpu_s : 0;
    }
    if (!rising) break;
  }
  return s;
}

}  // namespace

constexpr char kUsage[] =
    "Usage: active_prober_vs_fping [--quick] [--rate-only | --accuracy-only] [--runs N]\n"
    "                              [--accuracy-runs N] [--coalesce-us N] [--capture-blocks]\n"
    "                              [--capture-buffer-kib N] [--help]\n"
    "\n"
    "The active prober beside fping 5.1 in the same run, on loopback targets\n"
    "(127.0.0.0/8), both pinned to one CPU. Needs root (raw sockets, capture) and\n"
    "fping on PATH. Prints, in order:\n"
    "  [accuracy, low rate]   10 targets, period 10 ms: median and p99-p50 spread\n"
    "                         of each tool's RTTs (loopback: the error is the value)\n"
    "  [accuracy, high rate]  1000 targets, period 20 ms (50,000 probes/s)\n"
    "  [highest loss-free rate, run i/N]  10,000 targets, a ladder of offered rates\n"
    "                         from 2,000 to 300,000 probes/s for both tools\n"
    "  [summary]              medians over the runs, with the load average\n"
    "  [memory]               the prober's allocated bytes per target at 10,000\n"
    "                         targets on the highest loss-free rung, against 1024\n"
    "\n"
    "Options:\n"
    "  --quick            fewer probes per measurement (about half the time)\n"
    "  --rate-only        skip the accuracy sections\n"
    "  --accuracy-only    only the accuracy sections\n"
    "  --runs N           repetitions of the rate search (default 3, N >= 1)\n"
    "  --accuracy-runs N  repetitions of each accuracy section (default 1); with\n"
    "                     N > 1 a summary gives the median figures and in how\n"
    "                     many runs ours was no worse than fping's\n"
    "  --coalesce-us N    accuracy sections: a fixed timer coalescing in us\n"
    "                     (default: the prober's own, about 256 probes per\n"
    "                     wake-up, at most a quarter of the period)\n"
    "  --capture-blocks   accuracy sections: TPACKET_V3 blocks retired every ms\n"
    "                     instead of immediate delivery (as in the rate search)\n"
    "  --capture-buffer-kib N  accuracy sections: the capture ring's size\n"
    "                     (default 65536 KiB)\n"
    "  --help             print this text and exit\n"
    "\n"
    "The accuracy sections also compare both tools at fping's resolution: fping\n"
    "prints whole microseconds, so our RTTs are rounded the same way first.\n";

int main(int argc, char** argv) {
  bool quick = false;
  bool rate_only = false;
  bool accuracy_only = false;
  int runs = 3;
  int accuracy_runs = 1;
  OursConfig accuracy{.immediate = true,
                      .alpha = 0.0005,
                      .bins = 8192,
                      .coalescing = {},
                      .capture_buffer_bytes = 64 << 20};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--rate-only") {
      rate_only = true;
    } else if (arg == "--accuracy-only") {
      accuracy_only = true;
    } else if (arg == "--capture-blocks") {
      accuracy.immediate = false;
    } else if (arg == "--coalesce-us") {
      char* end = nullptr;
      const long value = i + 1 < argc ? std::strtol(argv[i + 1], &end, 10) : -1;
      if (i + 1 >= argc || *end != '\0' || value < 0 || value > 100'000) {
        std::fprintf(stderr,
                     "active_prober_vs_fping: --coalesce-us needs a number in 0..100000\n%s",
                     kUsage);
        return 2;
      }
      accuracy.coalescing = absl::Microseconds(value);
      ++i;
    } else if (arg == "--capture-buffer-kib" || arg == "--accuracy-runs") {
      char* end = nullptr;
      const long value = i + 1 < argc ? std::strtol(argv[i + 1], &end, 10) : 0;
      const long max = arg == "--accuracy-runs" ? 1000 : 1 << 20;
      if (i + 1 >= argc || *end != '\0' || value < 1 || value > max) {
        std::fprintf(stderr, "active_prober_vs_fping: %s needs a number in 1..%ld\n%s", arg.c_str(),
                     max, kUsage);
        return 2;
      }
      if (arg == "--accuracy-runs") {
        accuracy_runs = static_cast<int>(value);
      } else {
        accuracy.capture_buffer_bytes = static_cast<int>(value) << 10;
      }
      ++i;
    } else if (arg == "--runs") {
      char* end = nullptr;
      const long value = i + 1 < argc ? std::strtol(argv[i + 1], &end, 10) : 0;
      if (i + 1 >= argc || *end != '\0' || value < 1 || value > 1000) {
        std::fprintf(stderr, "active_prober_vs_fping: --runs needs a number in 1..1000\n%s",
                     kUsage);
        return 2;
      }
      runs = static_cast<int>(value);
      ++i;
    } else {
      std::fprintf(stderr, "active_prober_vs_fping: unknown option '%s'\n%s", argv[i], kUsage);
      return 2;
    }
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(kCpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
  std::printf("active prober vs fping 5.1 on loopback, both pinned to CPU %d\n", kCpu);

  if (!rate_only) {
    std::vector<AccuracyFigures> low, high;
    for (int run = 0; run < accuracy_runs; ++run) {
      low.push_back(PrintAccuracy("accuracy, low rate", 10, quick ? 50 : 200, 10, accuracy));
      high.push_back(PrintAccuracy("accuracy, high rate", 1000, quick ? 10 : 20, 20, accuracy));
    }
    if (accuracy_runs > 1) {
      std::printf("\n[accuracy summary] load average now: %s\n", LoadAverage().c_str());
      PrintAccuracySummary("low rate", low);
      PrintAccuracySummary("high rate", high);
    }
  }

  if (accuracy_only) return 0;
  const int n = 10'000;
  const auto targets = LoopbackTargets(n);
  Memory memory;
  std::vector<double> ours_pps, fping_pps, ours_cpu, fping_cpu;
  for (int run = 1; run <= runs; ++run) {
    std::printf("\n[highest loss-free rate, run %d/%d] %d targets; load average before: %s\n", run,
                runs, n, LoadAverage().c_str());
    std::printf("  %-8s %9s %9s %8s %8s %13s  %-3s %s\n", "tool", "offered", "achieved", "sent",
                "recv", "probes/cpu-s", "ok", "note");
    double best_pps = 0;
    const Search ours = Climb("vantage", n, quick, [&](double rate, int count, double period_ms) {
      Memory m;
      ToolRun r = RunOurs(targets, count, period_ms, rate * 1.05,
                          OursConfig{.immediate = false,
                                     .alpha = 0.01,
                                     .bins = 256,
                                     .coalescing = {},
                                     .capture_buffer_bytes = 64 << 20},
                          &m);
      // The rung that sets the highest loss-free rate (the climb stops at
      // the first that is lossy or no longer faster).
      if (r.ok && r.pps > best_pps) {
        best_pps = r.pps;
        memory = m;
        memory.rate = rate;
        memory.achieved = r.pps;
      }
      return r;
    });
    const Search theirs = Climb("fping", n, quick, [&](double rate, int count, double period_ms) {
      return RunFping(targets, count, period_ms, 1000.0 / rate);
    });
    std::printf(
        "  run %d: highest loss-free rate vantage %.0f probes/s, fping %.0f probes/s, ratio "
        "%.2fx; probes per CPU-second vantage %.0f, fping %.0f, ratio %.2fx; load average after: "
        "%s\n",
        run, ours.best_pps, theirs.best_pps,
        theirs.best_pps > 0 ? ours.best_pps / theirs.best_pps : 0.0, ours.best_cpu, theirs.best_cpu,
        theirs.best_cpu > 0 ? ours.best_cpu / theirs.best_cpu : 0.0, LoadAverage().c_str());
    ours_pps.push_back(ours.best_pps);
    fping_pps.push_back(theirs.best_pps);
    ours_cpu.push_back(ours.best_cpu);
    fping_cpu.push_back(theirs.best_cpu);
  }
  const double m_ours = Quantile(ours_pps, 0.5), m_fping = Quantile(fping_pps, 0.5);
  const double c_ours = Quantile(ours_cpu, 0.5), c_fping = Quantile(fping_cpu, 0.5);
  std::printf(
      "\n[summary, median of %d runs] highest loss-free rate: vantage %.0f probes/s, fping %.0f "
      "probes/s, ratio %.2fx (goal >= 100000 and >= 2x); probes per CPU-second: vantage %.0f, "
      "fping %.0f, ratio %.2fx\n",
      runs, m_ours, m_fping, m_fping > 0 ? m_ours / m_fping : 0.0, c_ours, c_fping,
      c_fping > 0 ? c_ours / c_fping : 0.0);
  // Per target: every allocation of the prober (capacities, measured when
  // the rung's last probe is resolved, with the send log at its largest),
  // divided by the targets.
  const auto per = [n](size_t bytes) { return bytes / static_cast<size_t>(n); };
  std::printf(
      "\n[memory] at %d targets, highest loss-free rung (%.0f probes/s offered, %.0f achieved): "
      "%zu bytes per target held for the targets (budget 1024) = tables %zu + RTT statistics %zu "
      "+ in-flight slots %zu + send log %zu; allocated capacities, resolved probes remembered "
      "1.1 s (2 x timeout + 100 ms). Not per target: the backlog of rounds due but not yet sent "
      "(the rung asks for more than one CPU sends; they wait in order, never dropped) %zu bytes "
      "per target, %zu in all; the capture ring, %zu MiB fixed\n",
      n, memory.rate, memory.achieved, per(memory.usage.per_target_state()),
      per(memory.usage.tables), per(memory.usage.statistics), per(memory.usage.in_flight),
      per(memory.usage.send_log), per(memory.usage.backlog), memory.usage.total() / n,
      memory.capture_buffer >> 20);
  return 0;
}
