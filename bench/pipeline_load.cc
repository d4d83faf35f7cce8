// Load test of the telemetry pipeline: N simulated probes, each on its own
// gRPC stream with its own client certificate (mutual TLS on loopback),
// stream windows of T targets to one vantage-collector process. Reports the
// sustained rate of target-windows durably stored, the p99 delay from window
// close to durable storage (the collector's own measurement), what was lost,
// and the collector's peak memory.
//
//   pipeline_load --probes 1000 --targets 100 --interval-ms 1000 --seconds 30
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/quantile_sketch.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/vantage.grpc.pb.h"

namespace fs = std::filesystem;

namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fetches http://127.0.0.1:port/metrics with a plain socket.
std::string Scrape(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0) {
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    (void)!write(fd, req, sizeof(req) - 1);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

double MetricValue(const std::string& text, const std::string& name) {
  const size_t pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::atof(text.c_str() + pos + name.size() + 2);
}

long ProcStatusKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field) + 1);
  }
  return -1;
}

struct Totals {
  std::atomic<uint64_t> sent_reports{0};
  std::atomic<uint64_t> acked_reports{0};
  std::atomic<uint64_t> acked_series{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> stream_errors{0};
};

// Set by main once every probe is connected: the measured period.
std::atomic<int> g_connected{0};
std::atomic<int64_t> g_start_ns{0};
std::atomic<int64_t> g_stop_ns{0};

void RunProbe(int index, const fs::path& certs, int port, int targets, absl::Duration interval,
              Totals* totals) {
  const std::string id = absl::StrCat("load-", index);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(certs / "ca.crt");
  ssl.pem_cert_chain = Slurp(certs / (id + ".crt"));
  ssl.pem_private_key = Slurp(certs / (id + ".key"));
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per probe
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(ssl), args);
  // Warm-up: connect (TLS handshake) before the measured period starts.
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(120))) {
    totals->stream_errors.fetch_add(1);
  }
  g_connected.fetch_add(1);
  while (g_start_ns.load() == 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Time stop_at = absl::FromUnixNanos(g_stop_ns.load());
  auto stub = vantage::v1::Ingest::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Report(&ctx);
  std::atomic<uint64_t> outstanding{0};
  std::thread reader([&] {
    vantage::v1::ReportAck ack;
    while (stream->Read(&ack)) {
      if (ack.result() == vantage::v1::ReportAck::RESULT_REJECTED) {
        totals->rejected.fetch_add(1);
      } else {
        totals->acked_reports.fetch_add(1);
        totals->acked_series.fetch_add(static_cast<uint64_t>(targets));
      }
      outstanding.fetch_sub(1);
    }
  });
  std::mt19937_64 rng(static_cast<uint64_t>(index) * 7919 + 1);
  vantage::QuantileSketch sketch;
  for (int i = 0; i < 20; ++i) sketch.Add(1000.0 + 37.0 * i);
  const std::string sketch_bytes = sketch.Serialize();
  // Spread the probes' windows over the interval, as real probes are.
  absl::Time next = absl::FromUnixNanos(g_start_ns.load()) +
                    interval * (static_cast<double>(index % 1000) / 1000.0);
  bool ok = true;
  while (ok && next < stop_at) {
    absl::SleepFor(next - absl::Now());
    vantage::v1::ProbeReport r;
    r.set_schema_version(1);
    std::string rid(16, '\0');
    for (auto& c : rid) c = static_cast<char>(rng());
    r.set_report_id(rid);
    r.set_probe_id(id);
    r.set_pop(absl::StrCat("pop", index % 50));
    const absl::Time end = absl::Now();
    r.set_window_start_unix_ns(absl::ToUnixNanos(end - absl::Seconds(10)));
    r.set_window_end_unix_ns(absl::ToUnixNanos(end));
    for (int t = 0; t < targets; ++t) {
      auto* a = r.add_active();
      a->set_target(absl::StrCat("198.18.", t / 250, ".", t % 250 + 1));
      a->set_method(vantage::v1::METHOD_ICMP);
      a->set_sent(10);
      a->set_received(10);
      a->set_min_rtt_us(1000);
      a->set_rtt_sketch(sketch_bytes);
    }
    outstanding.fetch_add(1);
    totals->sent_reports.fetch_add(1);
    ok = stream->Write(r);
    next += interval;
  }
  stream->WritesDone();
  // Wait for the last acks (bounded).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (outstanding.load() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  if (!ok) totals->stream_errors.fetch_add(1);
  ctx.TryCancel();
  reader.join();
  (void)stream->Finish();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Telemetry pipeline load test: N probes -> one collector over mTLS gRPC"};
  int probes = 1000, targets = 100, interval_ms = 1000, seconds = 30;
  std::string work = "/tmp/vantage-pipeline-load";
  app.add_option("--probes", probes, "Simulated probes (one stream and certificate each)")
      ->capture_default_str();
  app.add_option("--targets", targets, "Targets per window")->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "Window period per probe")->capture_default_str();
  app.add_option("--seconds", seconds, "Duration of the load")->capture_default_str();
  app.add_option("--work-dir", work, "Certificates (cached) and database")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const fs::path dir(work), certs = fs::path(work) / "certs";
  fs::create_directories(dir);
  if (!fs::exists(certs / absl::StrCat("load-", probes - 1, ".crt"))) {
    std::printf("generating %d probe certificates (cached in %s)...\n", probes, certs.c_str());
    std::fflush(stdout);
    std::string cmd = absl::StrCat(VANTAGE_GEN_CERTS, " ", certs.string());
    for (int i = 0; i < probes; ++i) absl::StrAppend(&cmd, " load-", i);
    if (std::system((cmd + " >/dev/null").c_str()) != 0) return 1;
  }
  const fs::path db = dir / "collector.db";
  fs::remove(db);
  fs::remove(dir / "collector.db-wal");
  fs::remove(dir / "collector.db-shm");
  {
    std::ofstream cfg(dir / "collector.yaml");
    cfg << "listen: \"127.0.0.1:0\"\nmetrics_listen: \"127.0.0.1:0\"\ndatabase: " << db.string()
        << "\ntls: {cert: " << (certs / "collector.crt").string()
        << ", key: " << (certs / "collector.key").string()
        << ", client_ca: " << (certs / "ca.crt").string() << "}\nprobes:\n";
    for (int i = 0; i < probes; ++i)
      cfg << "  - {id: load-" << i << ", pop: pop" << i % 50 << "}\n";
  }
  const fs::path ready = dir / "ready";
  fs::remove(ready);
  const pid_t collector = fork();
  if (collector == 0) {
    const std::string cfg = (dir / "collector.yaml").string(), rf = ready.string();
    execl(VANTAGE_COLLECTOR_BIN, VANTAGE_COLLECTOR_BIN, "--config", cfg.c_str(), "--ready-file",
          rf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200 && !fs::exists(ready); ++i) absl::SleepFor(absl::Milliseconds(50));
  int port = 0, metrics_port = 0;
  std::ifstream(ready) >> port >> metrics_port;
  if (port == 0) {
    std::fprintf(stderr, "collector did not start\n");
    kill(collector, SIGKILL);
    return 1;
  }

  Totals totals;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(probes));
  for (int i = 0; i < probes; ++i) {
    threads.emplace_back(RunProbe, i, certs, port, targets, absl::Milliseconds(interval_ms),
                         &totals);
  }
  std::printf("connecting %d probes (TLS handshakes)...\n", probes);
  std::fflush(stdout);
  while (g_connected.load() < probes) absl::SleepFor(absl::Milliseconds(50));
  const double stored_before =
      MetricValue(Scrape(metrics_port), "vantage_collector_series_stored_total");
  const absl::Time start = absl::Now();
  const absl::Time stop_at = start + absl::Seconds(seconds);
  g_stop_ns.store(absl::ToUnixNanos(stop_at));
  g_start_ns.store(absl::ToUnixNanos(start));
  // Progress once every 5 s.
  while (absl::Now() + absl::Seconds(5) <= stop_at) {
    absl::SleepFor(absl::Seconds(5));
    std::printf("  %4.0fs: %llu reports acked, collector RSS %ld MiB\n",
                absl::ToDoubleSeconds(absl::Now() - start),
                static_cast<unsigned long long>(totals.acked_reports.load()),
                ProcStatusKb(collector, "VmRSS:") / 1024);
    std::fflush(stdout);
  }
  for (auto& t : threads) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  const std::string metrics = Scrape(metrics_port);
  const long peak_kb = ProcStatusKb(collector, "VmHWM:");
  kill(collector, SIGTERM);
  waitpid(collector, nullptr, 0);

  const double stored =
      MetricValue(metrics, "vantage_collector_series_stored_total") - stored_before;
  const double p50 =
      MetricValue(metrics, "vantage_collector_storage_delay_seconds{quantile=\"0.5\"}");
  const double p99 =
      MetricValue(metrics, "vantage_collector_storage_delay_seconds{quantile=\"0.99\"}");
  const uint64_t sent = totals.sent_reports.load();
  const uint64_t acked = totals.acked_reports.load();
  std::printf("\nprobes %d, targets/window %d, window period %d ms, %.1f s\n", probes, targets,
              interval_ms, elapsed);
  std::printf("reports sent %llu, acked %llu, rejected %llu, streams broken %llu, lost %lld\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(totals.rejected.load()),
              static_cast<unsigned long long>(totals.stream_errors.load()),
              static_cast<long long>(sent - acked - totals.rejected.load()));
  std::printf("target-windows stored: %.0f (%.0f /s)\n", stored, stored / elapsed);
  std::printf("window close -> durable: p50 %.1f ms, p99 %.1f ms\n", p50 * 1e3, p99 * 1e3);
  std::printf("collector peak RSS: %.1f MiB\n", static_cast<double>(peak_kb) / 1024);
  return sent == acked ? 0 : 1;
}
