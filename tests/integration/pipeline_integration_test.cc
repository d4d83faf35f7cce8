// The telemetry pipeline end to end on loopback: real gRPC with mutual TLS,
// real SQLite, a real vantage-collector process for the crash test.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "collector/collector_server.h"
#include "core/clock.h"
#include "core/quantile_sketch.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "probe/exporter.h"
#include "probe/spool.h"
#include "proto/vantage.grpc.pb.h"

namespace vantage {
namespace {

namespace fs = std::filesystem;
using collector::CollectorConfig;
using collector::CollectorServer;
using probe::Exporter;
using probe::ExporterOptions;
using probe::Spool;

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  (void)bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
  socklen_t len = sizeof(sin);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  close(fd);
  return ntohs(sin.sin_port);
}

v1::ProbeReport Window(const std::string& probe, const std::string& pop, int n) {
  static std::mt19937_64 rng(std::random_device{}());
  v1::ProbeReport r;
  r.set_schema_version(1);
  std::string id(16, '\0');
  for (auto& c : id) c = static_cast<char>(rng());
  r.set_report_id(id);
  r.set_probe_id(probe);
  r.set_pop(pop);
  const absl::Time end = absl::Now() - absl::Seconds(1000 - n);
  r.set_window_start_unix_ns(absl::ToUnixNanos(end - absl::Seconds(10)));
  r.set_window_end_unix_ns(absl::ToUnixNanos(end));
  QuantileSketch sketch;
  sketch.Add(1000 + n);
  auto* a = r.add_active();
  a->set_target("198.18.1.1");
  a->set_method(v1::METHOD_ICMP);
  a->set_sent(1);
  a->set_received(1);
  a->set_min_rtt_us(1000 + n);
  a->set_rtt_sketch(sketch.Serialize());
  return r;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vantage-pipeline-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    certs_ = dir_ / "certs";
    ASSERT_EQ(std::system((std::string(VANTAGE_GEN_CERTS) + " " + certs_.string() +
                           " probe-ams-1 probe-fra-1 >/dev/null")
                              .c_str()),
              0);
    port_ = FreePort();
  }
  void TearDown() override { fs::remove_all(dir_); }

  CollectorConfig Config() const {
    auto c = CollectorConfig::Parse(
        "listen: \"127.0.0.1:" + std::to_string(port_) +
            "\"\nmetrics_listen: \"127.0.0.1:0\"\ndatabase: " + (dir_ / "collector.db").string() +
            "\ntls: {cert: " + (certs_ / "collector.crt").string() + ", key: " +
            (certs_ / "collector.key").string() + ", client_ca: " + (certs_ / "ca.crt").string() +
            "}\nprobes:\n  - {id: probe-ams-1, pop: ams}\n  - {id: probe-fra-1, pop: fra}\n",
        "test.yaml");
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  }

  ExporterOptions Options(const fs::path& cert_dir, const std::string& probe) const {
    ExporterOptions o;
    o.target = "127.0.0.1:" + std::to_string(port_);
    o.ca_file = (certs_ / "ca.crt").string();
    o.cert_file = (cert_dir / (probe + ".crt")).string();
    o.key_file = (cert_dir / (probe + ".key")).string();
    o.min_backoff = absl::Milliseconds(50);
    o.max_backoff = absl::Milliseconds(500);
    o.connect_timeout = absl::Seconds(1);
    return o;
  }

  std::unique_ptr<Spool> NewSpool(const std::string& name) {
    auto s = Spool::Open((dir_ / name).string(), 64 << 20);
    EXPECT_TRUE(s.ok());
    return std::move(*s);
  }

  // Waits until `pred` holds, up to `limit`.
  template <typename Pred>
  static bool WaitFor(Pred pred, absl::Duration limit) {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
  }

  // Report ids in the order the collector stored them.
  std::vector<std::string> StoredIdsInArrivalOrder() const {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir_ / "collector.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT report_id FROM windows ORDER BY seq", -1, &stmt, nullptr);
    std::vector<std::string> ids;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      ids.emplace_back(static_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                       static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return ids;
  }

  fs::path dir_;
  fs::path certs_;
  int port_ = 0;
};

TEST_F(PipelineTest, DeliversEveryWindowOnceAndEmptiesTheSpool) {
  auto server = CollectorServer::Start(Config(), &RealClock::Get());
  ASSERT_TRUE(server.ok()) << server.status();
  auto spool = NewSpool("spool");
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    const auto w = Window("probe-ams-1", "ams", i);
    ids.push_back(w.report_id());
    ASSERT_TRUE(spool->Append(w.SerializeAsString()).ok());
  }
  Exporter exporter(spool.get(), Options(certs_, "probe-ams-1"));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return spool->Stats().records == 0; }, absl::Seconds(20)))
      << exporter.Stats().last_error;
  EXPECT_EQ((*server)->state().reports_stored(), 50u);
  EXPECT_EQ(exporter.Stats().stored, 50u);
  EXPECT_EQ(StoredIdsInArrivalOrder(), ids);
  const std::string metrics = (*server)->RenderMetrics();
  EXPECT_NE(metrics.find("vantage_collector_reports_stored_total 50"), std::string::npos);
  EXPECT_NE(metrics.find("vantage_collector_probe_connected{probe=\"probe-ams-1\",pop=\"ams\"} 1"),
            std::string::npos);
  // The exposition format passes Prometheus' own checker.
  const fs::path metrics_file = dir_ / "metrics.txt";
  std::ofstream(metrics_file) << metrics;
  EXPECT_EQ(std::system(("promtool check metrics < " + metrics_file.string()).c_str()), 0);
}

TEST_F(PipelineTest, RefusesAProbeWhoseCertificateIsFromAnotherCa) {
  auto server = CollectorServer::Start(Config(), &RealClock::Get());
  ASSERT_TRUE(server.ok());
  const fs::path rogue = dir_ / "rogue";
  ASSERT_EQ(std::system(
                (std::string(VANTAGE_GEN_CERTS) + " " + rogue.string() + " probe-ams-1 >/dev/null")
                    .c_str()),
            0);
  auto spool = NewSpool("spool");
  ASSERT_TRUE(spool->Append(Window("probe-ams-1", "ams", 1).SerializeAsString()).ok());
  Exporter exporter(spool.get(), Options(rogue, "probe-ams-1"));
  ASSERT_TRUE(exporter.Start().ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  exporter.Stop();
  EXPECT_EQ((*server)->state().reports_stored(), 0u);
  EXPECT_EQ(spool->Stats().records, 1u) << "an unacknowledged window stays spooled";
  EXPECT_GT(exporter.Stats().connect_failures, 0u);
  EXPECT_EQ(exporter.Stats().stored, 0u);
}

// With `operators`, only those certificates may read; a probe's may not.
TEST_F(PipelineTest, OnlyOperatorsMayQueryWhenOperatorsAreListed) {
  ASSERT_EQ(std::system((std::string(VANTAGE_GEN_CERTS) + " " + certs_.string() +
                         " probe-ams-1 probe-fra-1 noc >/dev/null")
                            .c_str()),
            0);
  CollectorConfig config = Config();
  config.operators = {"noc"};
  auto server = CollectorServer::Start(config, &RealClock::Get());
  ASSERT_TRUE(server.ok()) << server.status();
  auto status = [&](const std::string& who, v1::StatusResponse* resp) {
    auto read = [](const fs::path& f) {
      std::ifstream in(f);
      return std::string(std::istreambuf_iterator<char>(in), {});
    };
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = read(certs_ / "ca.crt");
    ssl.pem_cert_chain = read(certs_ / (who + ".crt"));
    ssl.pem_private_key = read(certs_ / (who + ".key"));
    auto stub = v1::Query::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::SslCredentials(ssl)));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub->Status(&ctx, v1::StatusRequest(), resp);
  };
  v1::StatusResponse ok;
  const grpc::Status as_noc = status("noc", &ok);
  ASSERT_TRUE(as_noc.ok()) << as_noc.error_message();
  ASSERT_EQ(ok.probes_size(), 2);  // the operator is not listed as a probe
  EXPECT_EQ(ok.probes(0).probe_id(), "probe-ams-1");
  v1::StatusResponse denied;
  const grpc::Status as_probe = status("probe-ams-1", &denied);
  EXPECT_EQ(as_probe.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(as_probe.error_message().find("probe-ams-1"), std::string::npos);
  EXPECT_EQ(denied.probes_size(), 0);
  EXPECT_NE((*server)->RenderMetrics().find("vantage_collector_queries_denied_total 1\n"),
            std::string::npos);
  // Probes may not be operators: the config says so with a position.
  auto bad = CollectorConfig::Parse(
      "tls: {cert: c, key: k, client_ca: ca}\nprobes: [{id: p1, pop: a}]\noperators: [noc, p1]\n",
      "c.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("c.yaml:3:18"), absl::string_view::npos)
      << bad.status().message();
}

TEST_F(PipelineTest, RefusesImpersonationAndBadValuesAndCountsThem) {
  auto server = CollectorServer::Start(Config(), &RealClock::Get());
  ASSERT_TRUE(server.ok());
  auto spool = NewSpool("spool");
  // probe-fra-1's certificate claiming to be probe-ams-1.
  ASSERT_TRUE(spool->Append(Window("probe-ams-1", "ams", 1).SerializeAsString()).ok());
  // Its own identity but another PoP.
  ASSERT_TRUE(spool->Append(Window("probe-fra-1", "ams", 2).SerializeAsString()).ok());
  auto nan = Window("probe-fra-1", "fra", 3);
  nan.mutable_active(0)->set_min_rtt_us(std::nan(""));
  ASSERT_TRUE(spool->Append(nan.SerializeAsString()).ok());
  auto huge = Window("probe-fra-1", "fra", 4);
  huge.mutable_active(0)->set_rtt_sketch(std::string(1 << 20, '\x01'));  // 1 MiB "sketch"
  ASSERT_TRUE(spool->Append(huge.SerializeAsString()).ok());
  // 20 MiB: over the gRPC message limit, so the probe itself must drop it.
  auto giant = Window("probe-fra-1", "fra", 5);
  giant.mutable_active(0)->set_rtt_sketch(std::string(20 << 20, '\x01'));
  ASSERT_TRUE(spool->Append(giant.SerializeAsString()).ok());
  ASSERT_TRUE(spool->Append(Window("probe-fra-1", "fra", 6).SerializeAsString()).ok());

  Exporter exporter(spool.get(), Options(certs_, "probe-fra-1"));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return spool->Stats().records == 0; }, absl::Seconds(20)))
      << exporter.Stats().last_error;
  const auto rejects = (*server)->state().Rejects();
  EXPECT_EQ(rejects.at("impersonation"), 1u);
  EXPECT_EQ(rejects.at("wrong_pop"), 1u);
  EXPECT_EQ(rejects.at("non_finite"), 1u);
  EXPECT_EQ(rejects.at("oversized_sketch"), 1u);
  EXPECT_EQ(exporter.Stats().rejected, 4u);
  EXPECT_EQ(exporter.Stats().oversized, 1u);
  EXPECT_EQ((*server)->state().reports_stored(), 1u);
}

TEST_F(PipelineTest, CorruptSpoolRecordIsSkippedAndTheRestDelivered) {
  auto spool = NewSpool("spool");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(spool->Append(Window("probe-ams-1", "ams", i).SerializeAsString()).ok());
  }
  spool.reset();
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir_ / "spool")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  {
    std::fstream f(files[2], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7F');
  }
  spool = NewSpool("spool");
  auto server = CollectorServer::Start(Config(), &RealClock::Get());
  ASSERT_TRUE(server.ok());
  Exporter exporter(spool.get(), Options(certs_, "probe-ams-1"));
  ASSERT_TRUE(exporter.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return spool->Stats().records == 0; }, absl::Seconds(20)));
  EXPECT_EQ(spool->Stats().corrupt, 1u);
  EXPECT_EQ((*server)->state().reports_stored(), 4u);
}

TEST_F(PipelineTest, SpoolHoldsWhileTheCollectorIsDownAndReplaysInOrder) {
  // The issue asks for a minute; VANTAGE_TEST_OUTAGE_SECONDS shortens it for
  // quick local runs.
  int outage_s = 60;
  if (const char* env = std::getenv("VANTAGE_TEST_OUTAGE_SECONDS")) outage_s = std::atoi(env);
  auto spool = NewSpool("spool");
  Exporter exporter(spool.get(), Options(certs_, "probe-ams-1"));
  ASSERT_TRUE(exporter.Start().ok());
  std::vector<std::string> ids;
  const absl::Time outage_end = absl::Now() + absl::Seconds(outage_s);
  int n = 0;
  while (absl::Now() < outage_end) {
    const auto w = Window("probe-ams-1", "ams", n++);
    ids.push_back(w.report_id());
    ASSERT_TRUE(spool->Append(w.SerializeAsString()).ok());
    exporter.Notify();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(spool->Stats().records, ids.size());
  EXPECT_GT(exporter.Stats().connect_failures, 0u);
  auto server = CollectorServer::Start(Config(), &RealClock::Get());
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(WaitFor([&] { return spool->Stats().records == 0; }, absl::Seconds(30)))
      << exporter.Stats().last_error;
  EXPECT_EQ((*server)->state().reports_stored(), ids.size());
  EXPECT_EQ(StoredIdsInArrivalOrder(), ids);
}

TEST_F(PipelineTest, CollectorKilledMidStreamLosesAndDuplicatesNothing) {
  const fs::path config_path = dir_ / "collector.yaml";
  {
    std::ofstream f(config_path);
    f << "listen: \"127.0.0.1:" << port_
      << "\"\nmetrics_listen: \"\"\ndatabase: " << (dir_ / "collector.db").string()
      << "\ntls: {cert: " << (certs_ / "collector.crt").string()
      << ", key: " << (certs_ / "collector.key").string()
      << ", client_ca: " << (certs_ / "ca.crt").string()
      << "}\nprobes:\n  - {id: probe-ams-1, pop: ams}\n";
  }
  auto start_collector = [&] {
    const pid_t pid = fork();
    if (pid == 0) {
      execl(VANTAGE_COLLECTOR_BIN, VANTAGE_COLLECTOR_BIN, "--config", config_path.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  };
  pid_t collector = start_collector();
  auto spool = NewSpool("spool");
  Exporter exporter(spool.get(), Options(certs_, "probe-ams-1"));
  ASSERT_TRUE(exporter.Start().ok());
  constexpr int kWindows = 400;
  std::set<std::string> ids;
  for (int i = 0; i < kWindows; ++i) {
    const auto w = Window("probe-ams-1", "ams", i);
    ids.insert(w.report_id());
    ASSERT_TRUE(spool->Append(w.SerializeAsString()).ok());
    exporter.Notify();
    if (i == kWindows / 2) {
      // Mid-stream: some windows stored, some in flight, some not sent yet.
      ASSERT_TRUE(WaitFor([&] { return exporter.Stats().stored > 20; }, absl::Seconds(20)));
      kill(collector, SIGKILL);
      waitpid(collector, nullptr, 0);
      collector = start_collector();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool drained = WaitFor([&] { return spool->Stats().records == 0; }, absl::Seconds(60));
  kill(collector, SIGTERM);
  waitpid(collector, nullptr, 0);
  ASSERT_TRUE(drained) << exporter.Stats().last_error;
  const auto stored = StoredIdsInArrivalOrder();
  EXPECT_EQ(stored.size(), static_cast<size_t>(kWindows));
  EXPECT_EQ(std::set<std::string>(stored.begin(), stored.end()), ids);
  EXPECT_GE(exporter.Stats().connects, 2u);
}

}  // namespace
}  // namespace vantage
