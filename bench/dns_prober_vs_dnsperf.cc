// DnsProber beside dnsperf, one run, same nsd (one server process, RRL off,
// pinned to CPU 0), same query file; both tools pinned to CPU 1.
//
//  1. Highest rate: each tool keeps --outstanding queries in flight (dnsperf
//     -q) for --seconds; reported: answers per second and the share lost
//     (the goal counts only runs with < 0.1% timeouts; we time every answer).
//  2. Latency at a fixed moderate --rate (dnsperf -Q, per-query times from
//     -v): median, p90, p99 of both, and the ratio of the medians.
//
// Usage: dns_prober_vs_dnsperf [--seconds S] [--outstanding N] [--rate QPS]
//                              [--repeat N]  (runs of each tool, interleaved)
// Needs nsd and dnsperf (tools/install-deps.sh). Sends only to loopback.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "resolver/dns_prober.h"
#include "resolver/posix_dns_transport.h"
#include "tests/integration/dns_test_servers.h"

namespace {

using vantage::Endpoint;
using vantage::resolver::DnsOutcome;
using vantage::resolver::DnsQueryResult;
using vantage::resolver::DnsQuestion;

constexpr int kToolCpu = 1;
constexpr int kServerCpu = 0;

struct Figures {
  double qps = 0;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t lost = 0;
  std::vector<double> latencies_us;
  // DnsProber only: send stamp to the result callback (what a user-space
  // receive stamp, as dnsperf's, would see).
  std::vector<double> callback_us;

  double lost_share() const {
    return sent == 0 ? 0 : static_cast<double>(lost) / static_cast<double>(sent);
  }
  double Percentile(double p) {
    if (latencies_us.empty()) return 0;
    std::sort(latencies_us.begin(), latencies_us.end());
    const size_t i = static_cast<size_t>(p * static_cast<double>(latencies_us.size() - 1));
    return latencies_us[i];
  }
};

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) std::perror("sched_setaffinity");
}

std::string RunCommand(const std::string& cmd) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

Figures ParseDnsperf(const std::string& out) {
  Figures f;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view l = absl::StripLeadingAsciiWhitespace(line);
    std::vector<absl::string_view> w = absl::StrSplit(l, ' ', absl::SkipEmpty());
    if (absl::ConsumePrefix(&l, "> ") && w.size() >= 5) {
      double s = 0;
      if (absl::SimpleAtod(w.back(), &s)) f.latencies_us.push_back(s * 1e6);
    } else if (absl::StartsWith(l, "Queries sent:") && w.size() >= 3) {
      (void)absl::SimpleAtoi(w[2], &f.sent);
    } else if (absl::StartsWith(l, "Queries completed:") && w.size() >= 3) {
      (void)absl::SimpleAtoi(w[2], &f.answered);
    } else if (absl::StartsWith(l, "Queries lost:") && w.size() >= 3) {
      (void)absl::SimpleAtoi(w[2], &f.lost);
    } else if (absl::StartsWith(l, "Queries per second:") && w.size() >= 4) {
      (void)absl::SimpleAtod(w[3], &f.qps);
    }
  }
  return f;
}

class OurRun {
 public:
  OurRun(vantage::EventLoop* loop, vantage::resolver::DnsProber* prober, Endpoint server,
         std::vector<DnsQuestion> questions)
      : loop_(loop), prober_(prober), server_(server), questions_(std::move(questions)) {}

  // Closed loop: `outstanding` in flight for `duration`.
  Figures ClosedLoop(int outstanding, absl::Duration duration) {
    closed_ = true;
    const absl::Time start = absl::Now();
    deadline_ = start + duration;
    for (int i = 0; i < outstanding; ++i) SendOne();
    Drain();
    figures_.qps =
        static_cast<double>(figures_.answered) / absl::ToDoubleSeconds(last_answer_ - start);
    return figures_;
  }

  // Open loop: `rate` queries per second for `duration`, each sent at its
  // own due time (start + i / rate) by a loop timer, as evenly as dnsperf -Q.
  Figures OpenLoop(double rate, absl::Duration duration) {
    closed_ = false;
    const vantage::Clock& clock = vantage::RealClock::Get();
    const absl::Time start = clock.MonotonicNow();
    deadline_ = absl::Now() + duration;
    bool sending = true;
    std::function<void()> tick = [&] {
      const absl::Duration elapsed = clock.MonotonicNow() - start;
      const double due = rate * absl::ToDoubleSeconds(std::min(elapsed, duration));
      while (static_cast<double>(figures_.sent) < due) SendOne();
      if (elapsed < duration) {
        loop_->AddTimerAt(start + absl::Seconds(static_cast<double>(figures_.sent) / rate), tick);
      } else {
        sending = false;
      }
    };
    tick();
    while (sending) loop_->RunOnce(absl::Milliseconds(10));
    Drain();
    figures_.qps = static_cast<double>(figures_.answered) / absl::ToDoubleSeconds(duration);
    return figures_;
  }

 private:
  void SendOne() {
    const DnsQuestion& q = questions_[next_++ % questions_.size()];
    ++figures_.sent;
    auto st = prober_->Query(server_, q, [this](const DnsQueryResult& r) { OnResult(r); });
    if (!st.ok()) ++figures_.lost;
  }
  void OnResult(const DnsQueryResult& r) {
    if (r.outcome() == DnsOutcome::kAnswer) {
      ++figures_.answered;
      figures_.latencies_us.push_back(r.time_us());
      last_answer_ = absl::Now();
      figures_.callback_us.push_back(absl::ToDoubleMicroseconds(last_answer_ - r.udp.sent_at));
    } else {
      ++figures_.lost;
    }
    if (closed_ && absl::Now() < deadline_) SendOne();
  }
  void Drain() {
    const absl::Time limit = absl::Now() + absl::Seconds(5);
    while (prober_->in_flight() > 0 && absl::Now() < limit) loop_->RunOnce(absl::Milliseconds(10));
  }

  vantage::EventLoop* loop_;
  vantage::resolver::DnsProber* prober_;
  Endpoint server_;
  std::vector<DnsQuestion> questions_;
  size_t next_ = 0;
  bool closed_ = true;
  absl::Time deadline_;
  absl::Time last_answer_;
  Figures figures_;
};

void PrintRow(const char* tool, Figures& f) {
  std::printf(
      "  %-22s %10.0f qps  sent %8llu  lost %6llu (%.3f%%)  p50 %7.1f us  p90 %7.1f us  "
      "p99 %7.1f us\n",
      tool, f.qps, static_cast<unsigned long long>(f.sent), static_cast<unsigned long long>(f.lost),
      100.0 * f.lost_share(), f.Percentile(0.5), f.Percentile(0.9), f.Percentile(0.99));
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 3;
  int outstanding = 100;
  double rate = 1000;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") seconds = std::atoi(argv[i + 1]);
    if (flag == "--outstanding") outstanding = std::atoi(argv[i + 1]);
    if (flag == "--rate") rate = std::atof(argv[i + 1]);
    if (flag == "--repeat") repeat = std::atoi(argv[i + 1]);
  }
  if (seconds < 1 || outstanding < 1 || rate <= 0 || repeat < 1) {
    std::fprintf(stderr, "usage: %s [--seconds S] [--outstanding N] [--rate QPS] [--repeat N]\n",
                 argv[0]);
    return 2;
  }

  PinTo(kServerCpu);  // nsd inherits this
  auto nsd = vantage::testing::DnsServerProcess::StartNsd("bench", "bench");
  if (!nsd.ok()) {
    std::fprintf(stderr, "cannot start nsd: %s\n", nsd.status().ToString().c_str());
    return 1;
  }
  PinTo(kToolCpu);
  const Endpoint server = (*nsd)->endpoint();

  // The same query file for both tools.
  const std::vector<DnsQuestion> questions = {
      {"www.example.test", vantage::resolver::kTypeA, vantage::resolver::kClassIn},
      {"www.example.test", vantage::resolver::kTypeAaaa, vantage::resolver::kClassIn},
      {"nope.example.test", vantage::resolver::kTypeA, vantage::resolver::kClassIn},
  };
  const std::string query_file = (*nsd)->directory() + "/queries.txt";
  {
    std::ofstream out(query_file);
    for (const auto& q : questions) {
      out << q.name << " " << vantage::resolver::DnsTypeName(q.type) << "\n";
    }
  }
  const std::string dnsperf =
      absl::StrCat("taskset -c ", kToolCpu, " dnsperf -s 127.0.0.1 -p ", server.port(), " -d ",
                   query_file, " -c 1 -T 1 -e -t 1 -l ", seconds, " 2>&1");

  auto loop = vantage::EventLoop::Create();
  if (!loop.ok()) return 1;
  vantage::resolver::PosixDnsTransport transport;
  vantage::resolver::DnsProberOptions options;
  options.timeout = absl::Seconds(1);  // as dnsperf -t 1
  options.query.nsid = false;          // dnsperf -e: EDNS without options
  options.query.recursion_desired = true;
  auto make_prober = [&](bool nsid) {
    options.query.nsid = nsid;
    return vantage::resolver::DnsProber::Create(loop->get(), &transport, options);
  };

  std::printf("nsd on %s (CPU %d), tools on CPU %d, %d s per run, query file %s\n\n",
              server.ToString().c_str(), kServerCpu, kToolCpu, seconds, query_file.c_str());

  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };

  std::printf("1. highest rate, %d queries outstanding, %d interleaved runs per tool\n",
              outstanding, repeat);
  std::vector<double> perf_qps, ours_qps, nsid_qps;
  bool all_under_limit = true;
  for (int rep = 0; rep < repeat; ++rep) {
    Figures perf = ParseDnsperf(RunCommand(absl::StrCat(dnsperf, " -q ", outstanding)));
    auto plain = make_prober(false);
    auto with_nsid = make_prober(true);
    if (!plain.ok() || !with_nsid.ok()) return 1;
    Figures ours = OurRun(loop->get(), plain->get(), server, questions)
                       .ClosedLoop(outstanding, absl::Seconds(seconds));
    Figures nsid = OurRun(loop->get(), with_nsid->get(), server, questions)
                       .ClosedLoop(outstanding, absl::Seconds(seconds));
    PrintRow("dnsperf", perf);
    PrintRow("DnsProber", ours);
    PrintRow("DnsProber (+NSID)", nsid);
    perf_qps.push_back(perf.qps);
    ours_qps.push_back(ours.qps);
    nsid_qps.push_back(nsid.qps);
    all_under_limit = all_under_limit && ours.lost_share() < 0.001 && nsid.lost_share() < 0.001;
  }
  std::printf(
      "  medians: dnsperf %.0f qps, DnsProber %.0f qps (ratio %.2f, goal >= 0.50), "
      "DnsProber+NSID %.0f qps (ratio %.2f); DnsProber timeouts < 0.1%% in every run: %s\n\n",
      median(perf_qps), median(ours_qps), median(ours_qps) / median(perf_qps), median(nsid_qps),
      median(nsid_qps) / median(perf_qps), all_under_limit ? "yes" : "no");

  std::printf("2. latency at a fixed %.0f qps, %d interleaved runs per tool\n", rate, repeat);
  // dnsperf stamps the answer in user space after recv(); DnsProber uses the
  // kernel's receive stamp, which is earlier by our wake-up and read. The
  // like-for-like comparison is dnsperf against DnsProber's user-space
  // (callback) time; the kernel-stamp ratio shows what the stamps buy.
  std::vector<double> user_ratios;
  std::vector<double> kernel_ratios;
  for (int rep = 0; rep < repeat; ++rep) {
    Figures perf =
        ParseDnsperf(RunCommand(absl::StrCat(dnsperf, " -Q ", static_cast<int>(rate), " -v")));
    auto prober = make_prober(false);
    if (!prober.ok()) return 1;
    Figures ours = OurRun(loop->get(), prober->get(), server, questions)
                       .OpenLoop(rate, absl::Seconds(seconds));
    PrintRow("dnsperf", perf);
    PrintRow("DnsProber (kernel rx)", ours);
    Figures user;
    user.qps = ours.qps;
    user.sent = ours.sent;
    user.lost = ours.lost;
    user.latencies_us = ours.callback_us;
    PrintRow("DnsProber (callback)", user);
    kernel_ratios.push_back(ours.Percentile(0.5) / perf.Percentile(0.5));
    user_ratios.push_back(user.Percentile(0.5) / perf.Percentile(0.5));
    std::printf("  median ratio DnsProber/dnsperf: callback %.3f, kernel rx %.3f\n",
                user_ratios.back(), kernel_ratios.back());
  }
  const double r = median(user_ratios);
  std::printf(
      "  median over runs: callback/dnsperf %.3f (goal within 5%%: %s), "
      "kernel rx/dnsperf %.3f\n",
      r, std::abs(r - 1) <= 0.05 ? "yes" : "no", median(kernel_ratios));
  return 0;
}
