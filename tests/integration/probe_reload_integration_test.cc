// SIGHUP in the real vantage-probe: every section is applied without
// losing a window, and a config that cannot be applied is refused while the
// old one keeps running. Real vantage-collector processes on loopback read
// over mutual TLS; the test reads what they stored. Needs root (captures).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
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

// One stored window as the collector holds it (schema v2: `windows`).
struct StoredWindow {
  std::string probe_id;
  std::string pop;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  v1::ProbeReport report;
};

// Every window in a collector's database, by window start.
std::vector<StoredWindow> ReadWindows(const fs::path& db_path) {
  std::vector<StoredWindow> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT r.probe_id, r.pop, r.window_start_ns, r.window_end_ns, w.body "
                     "FROM reports r JOIN windows w ON w.seq = r.windows_seq "
                     "ORDER BY r.window_start_ns",
                     -1, &stmt, nullptr);
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    StoredWindow w;
    w.probe_id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    w.pop = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    w.start_ns = sqlite3_column_int64(stmt, 2);
    w.end_ns = sqlite3_column_int64(stmt, 3);
    w.report.ParseFromArray(sqlite3_column_blob(stmt, 4), sqlite3_column_bytes(stmt, 4));
    out.push_back(std::move(w));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class ProbeReloadTest : public ::testing::Test {
 protected:
  struct Collector {
    fs::path dir;
    uint16_t port = 0;
    pid_t pid = -1;
    fs::path db() const { return dir / "collector.db"; }
  };

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (captures)";
    dir_ = fs::temp_directory_path() /
           ("vantage-reload-it-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Two independent PKIs: a reload can move the probe to another CA.
    for (const char* pki : {"certs1", "certs2"}) {
      ASSERT_EQ(std::system((std::string(VANTAGE_GEN_CERTS) + " " + (dir_ / pki).string() +
                             " probe-a probe-b >/dev/null")
                                .c_str()),
                0);
    }
    auto port = testing::FreeLoopbackPort();
    ASSERT_TRUE(port.ok());
    metrics_port_ = *port;
  }

  void TearDown() override {
    if (probe_ > 0) {
      kill(probe_, SIGKILL);
      waitpid(probe_, nullptr, 0);
    }
    for (Collector& c : collectors_) {
      if (c.pid > 0) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, nullptr, 0);
      }
    }
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  // Starts a collector trusting `pki`, knowing probe-a@lab and probe-b@lab2.
  Collector& StartCollector(const std::string& name, const std::string& pki) {
    Collector c;
    c.dir = dir_ / name;
    fs::create_directories(c.dir);
    auto port = testing::FreeLoopbackPort();
    c.port = port.ok() ? *port : 0;
    const fs::path certs = dir_ / pki;
    std::ofstream(c.dir / "collector.yaml")
        << "listen: \"127.0.0.1:" << c.port << "\"\n"
        << "metrics_listen: \"127.0.0.1:0\"\n"
        << "database: " << c.db().string() << "\n"
        << "tls: {cert: " << (certs / "collector.crt").string()
        << ", key: " << (certs / "collector.key").string()
        << ", client_ca: " << (certs / "ca.crt").string() << "}\n"
        << "probes:\n  - {id: probe-a, pop: lab}\n  - {id: probe-b, pop: lab2}\n";
    c.pid = Spawn({VANTAGE_COLLECTOR_BIN, "--config", (c.dir / "collector.yaml").string(),
                   "--ready-file", (c.dir / "ready").string()},
                  c.dir / "collector.log");
    EXPECT_TRUE(WaitFor([&] { return fs::exists(c.dir / "ready"); }, absl::Seconds(20)))
        << Slurp(c.dir / "collector.log");
    collectors_.push_back(c);
    return collectors_.back();
  }

  struct Options {
    std::string probe_id = "probe-a";
    std::string pop = "lab";
    const Collector* collector = nullptr;
    std::string pki = "certs1";
    std::string window = "1s";
    std::string passive_interface = "lo";
    uint16_t passive_port = 0;  // 0: the collector's port
    int prefix_length_v4 = 24;
    std::string extra;
  };

  std::string Config(const Options& o) const {
    const fs::path certs = dir_ / o.pki;
    std::ostringstream c;
    c << "identity: {probe_id: " << o.probe_id << ", pop: " << o.pop << "}\n"
      << "collector:\n"
      << "  target: 127.0.0.1:" << o.collector->port << "\n"
      << "  ca: " << (certs / "ca.crt").string() << "\n"
      << "  cert: " << (certs / (o.probe_id + ".crt")).string() << "\n"
      << "  key: " << (certs / (o.probe_id + ".key")).string() << "\n"
      << "spool: {dir: " << (dir_ / "spool").string() << "}\n"
      << "window: " << o.window << "\n"
      << "metrics_listen: 127.0.0.1:" << metrics_port_ << "\n";
    if (!o.passive_interface.empty()) {
      // Passive RTT on the probe's own gRPC stream to the collector.
      c << "passive: {interface: " << o.passive_interface << ", local_ports: ["
        << (o.passive_port != 0 ? o.passive_port : o.collector->port)
        << "], prefix_length_v4: " << o.prefix_length_v4 << "}\n";
    }
    c << o.extra;
    return c.str();
  }

  void StartProbe(const Options& o) {
    std::ofstream(dir_ / "probe.yaml") << Config(o);
    probe_ =
        Spawn({VANTAGE_PROBE_BIN, "--config", (dir_ / "probe.yaml").string()}, dir_ / "probe.log");
    ASSERT_TRUE(WaitFor([&] { return !ScrapeMetrics(metrics_port_).empty(); }, absl::Seconds(20)))
        << Slurp(dir_ / "probe.log");
  }

  double ProbeMetric(const std::string& series) const {
    return MetricValue(ScrapeMetrics(metrics_port_), series);
  }

  // Rewrites the config, sends SIGHUP, waits for the reload's verdict.
  void Reload(const std::string& config, bool expect_ok) {
    const std::string series = absl::StrCat("vantage_probe_config_reloads_total{result=\"",
                                            expect_ok ? "ok" : "error", "\"}");
    const double before = ProbeMetric(series);
    std::ofstream(dir_ / "probe.yaml") << config;
    ASSERT_EQ(kill(probe_, SIGHUP), 0);
    ASSERT_TRUE(WaitFor([&] { return ProbeMetric(series) == before + 1; }, absl::Seconds(10)))
        << Slurp(dir_ / "probe.log");
  }

  // SIGTERM: the open window is flushed and delivered; the probe exits 0.
  void StopProbe() {
    ASSERT_EQ(kill(probe_, SIGTERM), 0);
    int status = 0;
    ASSERT_TRUE(
        WaitFor([&] { return waitpid(probe_, &status, WNOHANG) == probe_; }, absl::Seconds(20)));
    probe_ = -1;
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Slurp(dir_ / "probe.log");
  }

  static void ExpectContiguous(const std::vector<StoredWindow>& windows) {
    for (size_t i = 1; i < windows.size(); ++i) {
      EXPECT_EQ(windows[i].start_ns, windows[i - 1].end_ns)
          << "window " << i << " of " << windows[i].probe_id << ": none lost, none twice";
    }
  }

  // Passive series (with `prefix`, when given) in windows starting at or
  // after `after_ns`.
  static size_t PassiveSeriesAfter(const std::vector<StoredWindow>& windows, int64_t after_ns,
                                   const std::string& prefix = "") {
    size_t n = 0;
    for (const StoredWindow& w : windows) {
      if (w.start_ns < after_ns) continue;
      for (const v1::PassiveSeries& p : w.report.passive()) {
        n += prefix.empty() || p.client_prefix() == prefix;
      }
    }
    return n;
  }

  fs::path dir_;
  uint16_t metrics_port_ = 0;
  std::vector<Collector> collectors_;
  pid_t probe_ = -1;
};

// Passive: new tracker settings reopen the capture and the tracker (the
// client prefix length changes what leaves the probe); a new window length
// applies from the next boundary; no window is lost across the reloads.
TEST_F(ProbeReloadTest, PassiveAndWindowChangesApplyWithoutLosingAWindow) {
  collectors_.reserve(1);
  const Collector& c = StartCollector("c1", "certs1");
  Options o;
  o.collector = &c;
  StartProbe(o);
  ASSERT_TRUE(
      WaitFor([&] { return PassiveSeriesAfter(ReadWindows(c.db()), 0, "127.0.0.0/24") > 0; },
              absl::Seconds(20)))
      << Slurp(dir_ / "probe.log");

  o.prefix_length_v4 = 16;
  Reload(Config(o), /*expect_ok=*/true);
  const int64_t v16_ns = absl::ToUnixNanos(absl::Now()) + 1'000'000'000;
  ASSERT_TRUE(WaitFor([&] { return PassiveSeriesAfter(ReadWindows(c.db()), v16_ns) >= 2; },
                      absl::Seconds(20)))
      << Slurp(dir_ / "probe.log");
  const auto windows16 = ReadWindows(c.db());
  EXPECT_EQ(PassiveSeriesAfter(windows16, v16_ns, "127.0.0.0/16"),
            PassiveSeriesAfter(windows16, v16_ns))
      << "the new tracker is in force";
  const double packets = ProbeMetric("vantage_probe_passive_packets_total");

  // Back to /24, and 2 s windows.
  o.prefix_length_v4 = 24;
  o.window = "2s";
  Reload(Config(o), /*expect_ok=*/true);
  const int64_t restored_ns = absl::ToUnixNanos(absl::Now()) + 2'000'000'000;
  ASSERT_TRUE(WaitFor(
      [&] { return PassiveSeriesAfter(ReadWindows(c.db()), restored_ns, "127.0.0.0/24") > 0; },
      absl::Seconds(20)))
      << Slurp(dir_ / "probe.log");
  EXPECT_GE(ProbeMetric("vantage_probe_passive_packets_total"), packets) << "counters never drop";
  StopProbe();

  const std::vector<StoredWindow> windows = ReadWindows(c.db());
  ExpectContiguous(windows);
  int two_second = 0;
  for (const StoredWindow& w : windows) {
    if (w.start_ns > restored_ns && w.end_ns - w.start_ns == 2'000'000'000) ++two_second;
  }
  EXPECT_GT(two_second, 0) << "the new window length is in force";
  EXPECT_NE(Slurp(dir_ / "probe.log").find("changed: window, passive"), std::string::npos);
}

// Collector: a new address and a new PKI (CA, certificate, key) reconnect
// the exporter; every window reaches one of the two collectors.
TEST_F(ProbeReloadTest, CollectorChangeReconnectsWithTheNewCertificates) {
  collectors_.reserve(2);
  const Collector& c1 = StartCollector("c1", "certs1");
  const Collector& c2 = StartCollector("c2", "certs2");
  Options o;
  o.collector = &c1;
  o.passive_interface = "";
  StartProbe(o);
  ASSERT_TRUE(WaitFor([&] { return ReadWindows(c1.db()).size() >= 2; }, absl::Seconds(20)));

  o.collector = &c2;
  o.pki = "certs2";
  Reload(Config(o), /*expect_ok=*/true);
  ASSERT_TRUE(WaitFor([&] { return ReadWindows(c2.db()).size() >= 3; }, absl::Seconds(20)))
      << Slurp(dir_ / "probe.log");
  const size_t in_c1 = ReadWindows(c1.db()).size();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(ReadWindows(c1.db()).size(), in_c1) << "nothing goes to the old collector any more";
  StopProbe();

  // Together, the two hold every window; one in flight at the switch may
  // have been stored by both (the old one's ack was lost with the stream).
  std::vector<StoredWindow> all = ReadWindows(c1.db());
  for (StoredWindow& w : ReadWindows(c2.db())) all.push_back(std::move(w));
  std::sort(all.begin(), all.end(),
            [](const StoredWindow& a, const StoredWindow& b) { return a.start_ns < b.start_ns; });
  all.erase(std::unique(all.begin(), all.end(),
                        [](const StoredWindow& a, const StoredWindow& b) {
                          return a.report.report_id() == b.report.report_id();
                        }),
            all.end());
  ExpectContiguous(all);
  EXPECT_GE(all.size(), 5u);
}

// Identity: the open window closes under the old identity, the next starts
// under the new one exactly there; nothing is refused as an impersonation.
TEST_F(ProbeReloadTest, IdentityChangeClosesTheWindowThenSwitches) {
  collectors_.reserve(1);
  const Collector& c = StartCollector("c1", "certs1");
  Options o;
  o.collector = &c;
  o.window = "2s";
  StartProbe(o);
  ASSERT_TRUE(WaitFor([&] { return ReadWindows(c.db()).size() >= 2; }, absl::Seconds(20)));

  o.probe_id = "probe-b";
  o.pop = "lab2";
  Reload(Config(o), /*expect_ok=*/true);
  ASSERT_TRUE(WaitFor([&] { return ProbeMetric("vantage_probe_identity_switches_total") == 1; },
                      absl::Seconds(10)))
      << Slurp(dir_ / "probe.log");
  ASSERT_TRUE(WaitFor(
      [&] {
        int b = 0;
        for (const StoredWindow& w : ReadWindows(c.db())) b += w.probe_id == "probe-b";
        return b >= 2;
      },
      absl::Seconds(20)))
      << Slurp(dir_ / "probe.log");
  EXPECT_NE(ScrapeMetrics(metrics_port_).find("vantage_probe_info{probe=\"probe-b\",pop=\"lab2\"}"),
            std::string::npos);
  EXPECT_EQ(ProbeMetric("vantage_probe_identity_orphaned_total"), 0);
  EXPECT_EQ(ProbeMetric("vantage_probe_exporter_acked_total{result=\"rejected\"}"), 0);
  StopProbe();

  const std::vector<StoredWindow> windows = ReadWindows(c.db());
  ExpectContiguous(windows);
  size_t first_b = windows.size();
  for (size_t i = 0; i < windows.size(); ++i) {
    EXPECT_EQ(windows[i].report.probe_id(), windows[i].probe_id);
    EXPECT_EQ(windows[i].pop, windows[i].probe_id == "probe-a" ? "lab" : "lab2");
    if (windows[i].probe_id == "probe-b" && first_b == windows.size()) first_b = i;
  }
  ASSERT_GT(first_b, 0u);
  ASSERT_LT(first_b, windows.size());
  for (size_t i = first_b; i < windows.size(); ++i) EXPECT_EQ(windows[i].probe_id, "probe-b");
  // The window open at the reload was cut short there (not at a 2 s boundary).
  EXPECT_LT(windows[first_b - 1].end_ns - windows[first_b - 1].start_ns, 2'000'000'000 + 1);
}

// A config that does not parse, or that cannot be put in place (a capture
// interface that does not exist, a missing key file), is refused whole:
// counted, logged with its position, and the old config keeps running.
TEST_F(ProbeReloadTest, RefusedReloadsKeepTheOldConfigRunning) {
  collectors_.reserve(1);
  const Collector& c = StartCollector("c1", "certs1");
  Options o;
  o.collector = &c;
  StartProbe(o);
  ASSERT_TRUE(WaitFor([&] { return ReadWindows(c.db()).size() >= 2; }, absl::Seconds(20)));

  Reload(Config(o) + "window: [1s\n", /*expect_ok=*/false);  // YAML syntax error
  Options bad_interface = o;
  bad_interface.passive_interface = "vt-nonexistent0";
  bad_interface.window = "2s";
  Reload(Config(bad_interface), /*expect_ok=*/false);
  Options bad_key = o;
  bad_key.pki = "certs-missing";
  bad_key.window = "2s";
  Reload(Config(bad_key), /*expect_ok=*/false);
  EXPECT_EQ(ProbeMetric("vantage_probe_config_reloads_total{result=\"ok\"}"), 0);

  const int64_t after_ns = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto w = ReadWindows(c.db());
        return !w.empty() && w.back().start_ns > after_ns + 2'000'000'000;
      },
      absl::Seconds(20)));
  StopProbe();
  const std::vector<StoredWindow> windows = ReadWindows(c.db());
  ExpectContiguous(windows);
  // Between the first (from the start) and the last (flushed at SIGTERM).
  for (size_t i = 1; i + 1 < windows.size(); ++i) {
    EXPECT_EQ(windows[i].end_ns - windows[i].start_ns, 1'000'000'000) << "still 1 s windows";
  }
  EXPECT_GT(PassiveSeriesAfter(windows, after_ns), 0u) << "the old capture still runs";
  const std::string log = Slurp(dir_ / "probe.log");
  EXPECT_TRUE(std::regex_search(log, std::regex("probe\\.yaml:[0-9]+:[0-9]+"))) << log;
  EXPECT_NE(log.find("vt-nonexistent0"), std::string::npos) << log;
  EXPECT_NE(log.find("certs-missing"), std::string::npos) << log;
}

}  // namespace
}  // namespace vantage
