// vantage-probe end to end on loopback: the real binary (raw sockets, live
// captures, c-ares) measures 127.0.0.1 and ::1 (ICMP, TCP) and an nsd the
// test starts, and streams 1 s windows over mutual TLS to a real
// vantage-collector process; the test reads what the collector stored.
// Needs root (raw sockets, captures, the drop to `nobody`).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proto/vantage.pb.h"
#include "tests/integration/daemon_test_util.h"
#include "tests/integration/dns_test_servers.h"

namespace vantage {
namespace {

namespace fs = std::filesystem;

using testing::MetricValue;
using testing::ScrapeMetrics;
using testing::Slurp;
using testing::Spawn;
using testing::WaitFor;

// Waits up to `limit` for `pid` to exit; its wait status, or -1.
int WaitExit(pid_t pid, absl::Duration limit) {
  const absl::Time deadline = absl::Now() + limit;
  int status = 0;
  while (absl::Now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

struct StoredReport {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

struct Stored {
  std::vector<StoredReport> reports;  // in window order
  std::vector<v1::ActiveSeries> active;
  std::vector<int64_t> active_end_ns;  // window end of each active series
  std::vector<v1::DnsSeries> dns;
  std::vector<v1::PassiveSeries> passive;
};

Stored ReadCollectorDb(const fs::path& db_path, const std::string& probe) {
  Stored out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT window_start_ns, window_end_ns FROM reports WHERE probe_id = ? "
                     "ORDER BY window_start_ns",
                     -1, &stmt, nullptr);
  sqlite3_bind_text(stmt, 1, probe.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    out.reports.push_back({sqlite3_column_int64(stmt, 0), sqlite3_column_int64(stmt, 1)});
  }
  sqlite3_finalize(stmt);
  // Schema v2: one row per report in `windows`, the whole ProbeReport.
  sqlite3_prepare_v2(db, "SELECT body FROM windows ORDER BY seq", -1, &stmt, nullptr);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    v1::ProbeReport report;
    report.ParseFromArray(sqlite3_column_blob(stmt, 0), sqlite3_column_bytes(stmt, 0));
    for (const v1::ActiveSeries& a : report.active()) {
      out.active.push_back(a);
      out.active_end_ns.push_back(report.window_end_unix_ns());
    }
    for (const v1::PassiveSeries& p : report.passive()) out.passive.push_back(p);
    for (const v1::DnsSeries& d : report.dns()) out.dns.push_back(d);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class ProbeDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (raw sockets, captures, setuid)";
    dir_ = fs::temp_directory_path() / ("vantage-probe-it-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    certs_ = dir_ / "certs";
    ASSERT_EQ(std::system((std::string(VANTAGE_GEN_CERTS) + " " + certs_.string() +
                           " probe-lab-1 >/dev/null")
                              .c_str()),
              0);
    auto nsd = testing::DnsServerProcess::StartNsd("lab-ns1", "lab-1");
    ASSERT_TRUE(nsd.ok()) << nsd.status();
    nsd_ = std::move(*nsd);

    auto grpc_port = testing::FreeLoopbackPort();
    auto metrics_port = testing::FreeLoopbackPort();
    ASSERT_TRUE(grpc_port.ok() && metrics_port.ok());
    collector_port_ = *grpc_port;
    probe_metrics_port_ = *metrics_port;
    std::ofstream(dir_ / "collector.yaml")
        << "listen: \"127.0.0.1:" << collector_port_ << "\"\n"
        << "metrics_listen: \"127.0.0.1:0\"\n"
        << "database: " << (dir_ / "collector.db").string() << "\n"
        << "tls: {cert: " << (certs_ / "collector.crt").string()
        << ", key: " << (certs_ / "collector.key").string()
        << ", client_ca: " << (certs_ / "ca.crt").string() << "}\n"
        << "probes:\n  - {id: probe-lab-1, pop: lab}\n";
    collector_ = Spawn({VANTAGE_COLLECTOR_BIN, "--config", (dir_ / "collector.yaml").string(),
                        "--ready-file", (dir_ / "collector.ready").string()},
                       dir_ / "collector.log");
    ASSERT_TRUE(WaitFor([&] { return fs::exists(dir_ / "collector.ready"); }, absl::Seconds(20)))
        << Slurp(dir_ / "collector.log");
  }

  void TearDown() override {
    for (pid_t* pid : {&probe_, &collector_}) {
      if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, nullptr, 0);
        *pid = -1;
      }
    }
    if (nsd_) nsd_->Stop();
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  std::string ProbeConfig(bool with_v6) const {
    std::ostringstream c;
    c << "identity: {probe_id: probe-lab-1, pop: lab}\n"
      << "user: nobody\n"
      << "collector:\n"
      << "  target: 127.0.0.1:" << collector_port_ << "\n"
      << "  ca: " << (certs_ / "ca.crt").string() << "\n"
      << "  cert: " << (certs_ / "probe-lab-1.crt").string() << "\n"
      << "  key: " << (certs_ / "probe-lab-1.key").string() << "\n"
      << "spool: {dir: " << (dir_ / "spool").string() << "}\n"
      << "window: 1s\n"
      << "metrics_listen: 127.0.0.1:" << probe_metrics_port_ << "\n"
      << "active:\n"
      << "  interval: 200ms\n"
      << "  timeout: 300ms\n"
      << "  targets:\n"
      << "    - {address: 127.0.0.1, methods: [icmp, \"tcp:" << collector_port_ << "\"]}\n";
    if (with_v6) c << "    - {address: \"::1\", methods: [icmp]}\n";
    // Passive RTT on the probe's own gRPC stream to the collector.
    c << "passive: {interface: lo, local_ports: [" << collector_port_ << "]}\n";
    c << "dns:\n"
      << "  servers: [\"" << nsd_->endpoint().ToString() << "\"]\n"
      << "  names: [www.example.test]\n"
      << "  types: [A, AAAA]\n"
      << "  interval: 300ms\n"
      << "  timeout: 500ms\n";
    return c.str();
  }

  void StartProbe(const std::string& config) {
    std::ofstream(dir_ / "probe.yaml") << config;
    probe_ =
        Spawn({VANTAGE_PROBE_BIN, "--config", (dir_ / "probe.yaml").string()}, dir_ / "probe.log");
    ASSERT_TRUE(
        WaitFor([&] { return !ScrapeMetrics(probe_metrics_port_).empty(); }, absl::Seconds(20)))
        << Slurp(dir_ / "probe.log");
  }

  std::string ProcStatusLine(const std::string& key) const {
    std::istringstream in(Slurp(fs::path("/proc") / std::to_string(probe_) / "status"));
    std::string line;
    while (std::getline(in, line)) {
      if (absl::StartsWith(line, key + ":")) return line;
    }
    return "";
  }

  fs::path dir_;
  fs::path certs_;
  std::unique_ptr<testing::DnsServerProcess> nsd_;
  uint16_t collector_port_ = 0;
  uint16_t probe_metrics_port_ = 0;
  pid_t collector_ = -1;
  pid_t probe_ = -1;
};

TEST_F(ProbeDaemonTest, WindowsReachTheCollectorReloadsAndFlushesOnSigterm) {
  StartProbe(ProbeConfig(/*with_v6=*/true));
  const fs::path db = dir_ / "collector.db";

  // Several windows with active and DNS results arrive.
  ASSERT_TRUE(WaitFor([&] { return ReadCollectorDb(db, "probe-lab-1").reports.size() >= 4; },
                      absl::Seconds(30)))
      << Slurp(dir_ / "probe.log");
  Stored stored = ReadCollectorDb(db, "probe-lab-1");
  std::map<std::string, std::pair<uint64_t, uint64_t>> active;  // "target method" -> sent, recv
  for (const v1::ActiveSeries& a : stored.active) {
    auto& [sent, received] = active[absl::StrCat(a.target(), " ", v1::Method_Name(a.method()))];
    sent += a.sent();
    received += a.received();
    EXPECT_LE(a.received(), a.sent());
  }
  for (const char* key : {"127.0.0.1 METHOD_ICMP", "127.0.0.1 METHOD_TCP_SYN", "::1 METHOD_ICMP"}) {
    ASSERT_TRUE(active.contains(key)) << key;
    EXPECT_GE(active[key].first, 5u) << key;
    // Loopback loses nothing but the probes still in flight at a window edge.
    EXPECT_GE(active[key].second + 2, active[key].first) << key;
    EXPECT_GT(active[key].second, 0u) << key;
  }
  uint64_t dns_sent = 0, dns_noerror = 0;
  std::set<std::string> catchments;
  for (const v1::DnsSeries& d : stored.dns) {
    EXPECT_EQ(d.qname(), "www.example.test");
    dns_sent += d.sent();
    if (d.rcodes().contains("NOERROR")) dns_noerror += d.rcodes().at("NOERROR");
    for (const auto& [name, n] : d.catchments()) catchments.insert(name);
  }
  EXPECT_GE(dns_sent, 4u);
  EXPECT_GT(dns_noerror, 0u);
  EXPECT_TRUE(catchments.contains("lab-ns1")) << "NSID of the test's nsd";
  // Passive RTT saw the exporter's TLS stream; the client leaves as a /24.
  uint64_t passive_samples = 0, passive_packets = 0;
  for (const v1::PassiveSeries& p : stored.passive) {
    EXPECT_EQ(p.client_prefix(), "127.0.0.0/24");
    passive_samples += p.samples();
    passive_packets += p.packets();
  }
  EXPECT_GT(passive_samples, 0u);
  EXPECT_GT(passive_packets, 0u);
  // Windows are 1 s long and follow each other without gaps after the first.
  for (size_t i = 1; i < stored.reports.size(); ++i) {
    EXPECT_EQ(stored.reports[i].start_ns, stored.reports[i - 1].end_ns);
    EXPECT_EQ(stored.reports[i].end_ns - stored.reports[i].start_ns, 1'000'000'000);
  }

  // Root is gone: uid nobody, only CAP_NET_RAW (13) and CAP_NET_ADMIN (12) left.
  EXPECT_EQ(ProcStatusLine("Uid"), "Uid:\t65534\t65534\t65534\t65534");
  EXPECT_EQ(ProcStatusLine("CapEff"), "CapEff:\t0000000000003000");

  // /metrics passes promtool and counts what happened.
  std::string metrics = ScrapeMetrics(probe_metrics_port_);
  std::ofstream(dir_ / "metrics.txt") << metrics;
  EXPECT_EQ(std::system(("promtool check metrics < " + (dir_ / "metrics.txt").string()).c_str()), 0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "vantage_probe_exporter_connected"), 1);
  EXPECT_GE(MetricValue(metrics, "vantage_probe_windows_total"), 4);
  EXPECT_GE(MetricValue(metrics, "vantage_probe_exporter_acked_total{result=\"stored\"}"), 4);
  EXPECT_GT(MetricValue(metrics, "vantage_probe_active_sent_total{method=\"icmp\"}"), 0);
  // Exported (present, with HELP) and zero: nothing given up, no TCP port pool ran dry.
  EXPECT_EQ(MetricValue(metrics, "vantage_probe_active_evicted_total"), 0);
  EXPECT_EQ(MetricValue(metrics, "vantage_probe_active_tcp_ports_exhausted_total"), 0);
  EXPECT_NE(metrics.find("# HELP vantage_probe_active_evicted_total "), std::string::npos);
  EXPECT_NE(metrics.find("# HELP vantage_probe_active_tcp_ports_exhausted_total "),
            std::string::npos);
  EXPECT_GT(MetricValue(metrics, "vantage_probe_dns_queries_total{result=\"answered\"}"), 0);
  EXPECT_EQ(MetricValue(metrics, "vantage_probe_privileges_dropped"), 1);

  // A bad config on SIGHUP is refused; the probe keeps measuring and reporting.
  std::ofstream(dir_ / "probe.yaml") << ProbeConfig(true) << "bogus_key: 1\n";
  ASSERT_EQ(kill(probe_, SIGHUP), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue(ScrapeMetrics(probe_metrics_port_),
                           "vantage_probe_config_reloads_total{result=\"error\"}") == 1;
      },
      absl::Seconds(5)));
  const size_t before = ReadCollectorDb(db, "probe-lab-1").reports.size();
  ASSERT_TRUE(
      WaitFor([&] { return ReadCollectorDb(db, "probe-lab-1").reports.size() >= before + 2; },
              absl::Seconds(10)));
  EXPECT_EQ(waitpid(probe_, nullptr, WNOHANG), 0) << "still running";
  EXPECT_NE(Slurp(dir_ / "probe.log").find("probe.yaml:"), std::string::npos)
      << "the refusal names the file and position";

  // A good one is applied: ::1 is no longer probed.
  std::ofstream(dir_ / "probe.yaml") << ProbeConfig(false);
  ASSERT_EQ(kill(probe_, SIGHUP), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue(ScrapeMetrics(probe_metrics_port_),
                           "vantage_probe_config_reloads_total{result=\"ok\"}") == 1;
      },
      absl::Seconds(5)));
  const int64_t reload_ns = absl::ToUnixNanos(absl::Now());
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));

  // SIGTERM: the open window is flushed, delivered, and the probe exits 0.
  const int64_t term_ns = absl::ToUnixNanos(absl::Now());
  ASSERT_EQ(kill(probe_, SIGTERM), 0);
  const int status = WaitExit(probe_, absl::Seconds(15));
  probe_ = -1;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n"
                                                             << Slurp(dir_ / "probe.log");
  stored = ReadCollectorDb(db, "probe-lab-1");
  ASSERT_FALSE(stored.reports.empty());
  EXPECT_GE(stored.reports.back().end_ns, term_ns) << "the window open at SIGTERM arrived";
  for (size_t i = 1; i < stored.reports.size(); ++i) {
    EXPECT_EQ(stored.reports[i].start_ns, stored.reports[i - 1].end_ns) << "no window lost";
  }
  size_t spooled = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "spool")) {
    spooled += entry.path().extension() == ".rec";
  }
  EXPECT_EQ(spooled, 0u) << "everything acknowledged";
  // Windows that began after the reload no longer probe ::1 (the window
  // open at the reload carries the replaced prober's results).
  int later_v4 = 0, later_v6 = 0;
  for (size_t i = 0; i < stored.active.size(); ++i) {
    if (stored.active_end_ns[i] < reload_ns + 1'500'000'000) continue;
    (stored.active[i].target() == "::1" ? later_v6 : later_v4)++;
  }
  EXPECT_GT(later_v4, 0);
  EXPECT_EQ(later_v6, 0);
}

TEST_F(ProbeDaemonTest, CheckConfigPrintsOkOrThePosition) {
  std::ofstream(dir_ / "good.yaml") << ProbeConfig(true);
  std::ofstream(dir_ / "bad.yaml") << "window: 1s\nactive:\n  targets:\n    - {address: nope}\n";
  const std::string bin = VANTAGE_PROBE_BIN;
  const std::string good = (dir_ / "good.out").string();
  const std::string bad = (dir_ / "bad.out").string();
  EXPECT_EQ(std::system((bin + " --check-config -c " + (dir_ / "good.yaml").string() + " >" + good +
                         " 2>&1")
                            .c_str()),
            0);
  EXPECT_NE(Slurp(good).find("OK"), std::string::npos);
  EXPECT_NE(std::system(
                (bin + " --check-config -c " + (dir_ / "bad.yaml").string() + " >" + bad + " 2>&1")
                    .c_str()),
            0);
  EXPECT_NE(Slurp(bad).find("bad.yaml:4:"), std::string::npos) << Slurp(bad);
}

}  // namespace
}  // namespace vantage
