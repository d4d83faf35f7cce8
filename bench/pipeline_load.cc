// Load test of the telemetry pipeline: N simulated probes, each on its own
// gRPC stream and connection with its own client certificate (mutual TLS on
// loopback), stream windows of T targets to one vantage-collector process
// (a child process, so its CPU time and memory are its own). Reports the
// sustained rate of target-windows durably stored, the delay from window
// close to durable storage (the collector's own measurement) and from
// window close to the probe holding the ack, what was lost, the
// collector's CPU seconds and peak memory.
//
// The load generator is kept cheap so that it measures the collector, not
// itself: every probe's window is encoded once (the series part never
// changes; only a small header with the report id and window times is
// encoded per report — a serialized ProbeReport is the concatenation of its
// fields), sent as raw bytes through a callback (reactor) stream, and one
// scheduler thread paces all probes; gRPC's own threads do the rest.
//
//   pipeline_load --probes 1000 --targets 100 --interval-ms 1000 --seconds 30
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/quantile_sketch.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "proto/vantage.pb.h"

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

// User + system CPU seconds of a process (/proc/<pid>/stat fields 14, 15).
double ProcCpuSeconds(pid_t pid) {
  const std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct Totals {
  std::atomic<uint64_t> sent_reports{0};
  std::atomic<uint64_t> acked_reports{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> stream_errors{0};
  std::mutex mu;
  vantage::QuantileSketch ack_delay_ms;  // window end -> ack held by the probe
};

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// One simulated probe: a raw-bytes bidi stream driven by the scheduler
// thread (Send) and gRPC's callback threads (the rest).
class ProbeStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  ProbeStream(int index, int targets, Totals* totals) : index_(index), totals_(totals) {
    id_ = absl::StrCat("load-", index);
    pop_ = absl::StrCat("pop", index % 50);
    rng_.seed(static_cast<uint64_t>(index) * 7919 + 1);
    // The series part of every window, encoded once.
    vantage::QuantileSketch sketch;
    for (int i = 0; i < 20; ++i) sketch.Add(1000.0 + 37.0 * i);
    const std::string sketch_bytes = sketch.Serialize();
    vantage::v1::ProbeReport body;
    for (int t = 0; t < targets; ++t) {
      auto* a = body.add_active();
      a->set_target(absl::StrCat("198.18.", t / 250, ".", t % 250 + 1));
      a->set_method(vantage::v1::METHOD_ICMP);
      a->set_sent(10);
      a->set_received(10);
      a->set_min_rtt_us(1000);
      a->set_rtt_sketch(sketch_bytes);
    }
    body_ = body.SerializeAsString();
  }

  void Connect(const std::shared_ptr<grpc::Channel>& channel) {
    stub_ = std::make_unique<grpc::GenericStub>(channel);
    stub_->PrepareBidiStreamingCall(&ctx_, "/vantage.v1.Ingest/Report", grpc::StubOptions(), this);
    AddHold();  // released by WritesDone below
    StartRead(&ack_buffer_);
    StartCall();
  }

  // Encodes and queues the next window, ending now.
  void Send() {
    vantage::v1::ProbeReport header;
    header.set_schema_version(1);
    std::string rid(16, '\0');
    for (auto& c : rid) c = static_cast<char>(rng_());
    header.set_report_id(rid);
    header.set_probe_id(id_);
    header.set_pop(pop_);
    const absl::Time end = absl::Now();
    header.set_window_start_unix_ns(absl::ToUnixNanos(end - absl::Seconds(10)));
    header.set_window_end_unix_ns(absl::ToUnixNanos(end));
    std::string bytes = header.SerializeAsString();
    bytes += body_;
    totals_->sent_reports.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    sent_at_[rid] = end;
    queue_.push_back(ToByteBuffer(bytes));
    if (!writing_) WriteNextLocked();
  }

  // After the last Send: half-closes once the queue is written.
  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    finishing_ = true;
    if (!writing_ && queue_.empty() && !half_closed_) {
      half_closed_ = true;
      StartWritesDone();
      RemoveHold();
    }
  }

  size_t outstanding() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_ ? 0 : sent_at_.size();
  }
  void Cancel() { ctx_.TryCancel(); }
  void WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return done_; });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      queue_.clear();
      broken_ = true;
    }
    if (!queue_.empty()) {
      WriteNextLocked();
    } else if (finishing_ && !half_closed_) {
      half_closed_ = true;
      StartWritesDone();
      RemoveHold();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    vantage::v1::ReportAck ack;
    grpc::Slice slice;
    std::string bytes;
    std::vector<grpc::Slice> slices;
    if (ack_buffer_.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    const absl::Time now = absl::Now();
    if (ack.ParseFromString(bytes)) {
      if (ack.result() == vantage::v1::ReportAck::RESULT_REJECTED) {
        totals_->rejected.fetch_add(1);
      } else {
        totals_->acked_reports.fetch_add(1);
      }
      absl::Time sent = absl::InfinitePast();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = sent_at_.find(ack.report_id()); it != sent_at_.end()) {
          sent = it->second;
          sent_at_.erase(it);
        }
      }
      if (sent != absl::InfinitePast()) {
        std::lock_guard<std::mutex> lock(totals_->mu);
        totals_->ack_delay_ms.Add(absl::ToDoubleMilliseconds(now - sent));
      }
    }
    StartRead(&ack_buffer_);
  }

  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      totals_->stream_errors.fetch_add(1);
      std::fprintf(stderr, "probe %d: stream ended: %s\n", index_, status.error_message().c_str());
    }
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    done_cv_.notify_all();
  }

 private:
  void WriteNextLocked() {
    writing_ = true;
    current_ = queue_.front();  // ByteBuffer copies share the slices
    queue_.pop_front();
    StartWrite(&current_);
  }

  const int index_;
  Totals* totals_;
  std::string id_, pop_, body_;
  std::mt19937_64 rng_;
  std::unique_ptr<grpc::GenericStub> stub_;
  grpc::ClientContext ctx_;
  grpc::ByteBuffer ack_buffer_;

  std::mutex mu_;
  std::condition_variable done_cv_;
  std::deque<grpc::ByteBuffer> queue_;
  grpc::ByteBuffer current_;
  absl::flat_hash_map<std::string, absl::Time> sent_at_;
  bool writing_ = false;
  bool finishing_ = false;
  bool half_closed_ = false;
  bool broken_ = false;
  bool done_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Telemetry pipeline load test: N probes -> one collector over mTLS gRPC"};
  int probes = 1000, targets = 100, interval_ms = 1000, seconds = 30;
  std::string work = "/tmp/vantage-pipeline-load";
  std::string collector_bin = VANTAGE_COLLECTOR_BIN;
  app.add_option("--probes", probes, "Simulated probes (one stream and certificate each)")
      ->capture_default_str();
  app.add_option("--targets", targets, "Targets per window")->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "Window period per probe")->capture_default_str();
  app.add_option("--seconds", seconds, "Duration of the load")->capture_default_str();
  app.add_option("--work-dir", work, "Certificates (cached) and database")->capture_default_str();
  app.add_option("--collector", collector_bin, "vantage-collector binary to load")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  double load1 = 0;
  std::ifstream("/proc/loadavg") >> load1;
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
    execl(collector_bin.c_str(), collector_bin.c_str(), "--config", cfg.c_str(), "--ready-file",
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

  // Connect every probe (TLS handshakes) before the measured period.
  std::printf("connecting %d probes (TLS handshakes)...\n", probes);
  std::fflush(stdout);
  Totals totals;
  std::vector<std::unique_ptr<ProbeStream>> streams;
  streams.reserve(static_cast<size_t>(probes));
  std::vector<std::shared_ptr<grpc::Channel>> channels(static_cast<size_t>(probes));
  for (int i = 0; i < probes; ++i) {
    streams.push_back(std::make_unique<ProbeStream>(i, targets, &totals));
  }
  {
    std::atomic<int> next{0};
    std::vector<std::thread> connectors;
    connectors.reserve(8);
    for (int t = 0; t < 8; ++t) {
      connectors.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < probes;) {
          const std::string id = absl::StrCat("load-", i);
          grpc::SslCredentialsOptions ssl;
          ssl.pem_root_certs = Slurp(certs / "ca.crt");
          ssl.pem_cert_chain = Slurp(certs / (id + ".crt"));
          ssl.pem_private_key = Slurp(certs / (id + ".key"));
          grpc::ChannelArguments args;
          args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per probe
          auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                                   grpc::SslCredentials(ssl), args);
          if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                         std::chrono::seconds(120))) {
            totals.stream_errors.fetch_add(1);
          }
          channels[static_cast<size_t>(i)] = channel;
        }
      });
    }
    for (auto& t : connectors) t.join();
  }
  for (int i = 0; i < probes; ++i) {
    streams[static_cast<size_t>(i)]->Connect(channels[static_cast<size_t>(i)]);
  }
  absl::SleepFor(absl::Milliseconds(500));  // streams open

  const double stored_before =
      MetricValue(Scrape(metrics_port), "vantage_collector_series_stored_total");
  const double collector_cpu_before = ProcCpuSeconds(collector);
  const double self_cpu_before = SelfCpuSeconds();
  const absl::Time start = absl::Now();
  const absl::Time stop_at = start + absl::Seconds(seconds);
  const absl::Duration interval = absl::Milliseconds(interval_ms);
  // One pacing thread: probe i sends at start + interval * (i / probes) + k * interval.
  std::thread pacer([&] {
    absl::Time next_progress = start + absl::Seconds(5);
    for (int64_t k = 0;; ++k) {
      for (int i = 0; i < probes; ++i) {
        const absl::Time at = start + interval * k + interval * (static_cast<double>(i) / probes);
        if (at >= stop_at) return;
        const absl::Duration wait = at - absl::Now();
        if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
        streams[static_cast<size_t>(i)]->Send();
        if (absl::Now() >= next_progress) {
          next_progress += absl::Seconds(5);
          std::printf("  %4.0fs: %llu reports acked, collector RSS %ld MiB\n",
                      absl::ToDoubleSeconds(absl::Now() - start),
                      static_cast<unsigned long long>(totals.acked_reports.load()),
                      ProcStatusKb(collector, "VmRSS:") / 1024);
          std::fflush(stdout);
        }
      }
    }
  });
  pacer.join();
  const absl::Time sent_until = absl::Now();
  for (auto& s : streams) s->Finish();
  // Wait for the last acks (bounded).
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  for (auto& s : streams) {
    while (s->outstanding() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Time acked_until = absl::Now();
  const double collector_cpu = ProcCpuSeconds(collector) - collector_cpu_before;
  const double self_cpu = SelfCpuSeconds() - self_cpu_before;
  const std::string metrics = Scrape(metrics_port);
  const long peak_kb = ProcStatusKb(collector, "VmHWM:");
  for (auto& s : streams) s->Cancel();
  for (auto& s : streams) s->WaitDone();
  kill(collector, SIGTERM);
  waitpid(collector, nullptr, 0);

  const double elapsed = absl::ToDoubleSeconds(acked_until - start);
  const double stored =
      MetricValue(metrics, "vantage_collector_series_stored_total") - stored_before;
  const double p50 =
      MetricValue(metrics, "vantage_collector_storage_delay_seconds{quantile=\"0.5\"}");
  const double p99 =
      MetricValue(metrics, "vantage_collector_storage_delay_seconds{quantile=\"0.99\"}");
  const uint64_t sent = totals.sent_reports.load();
  const uint64_t acked = totals.acked_reports.load();
  std::printf(
      "\nprobes %d, targets/window %d, window period %d ms, offered %.0f target-windows/s\n",
      probes, targets, interval_ms, 1000.0 * probes * targets / interval_ms);
  std::printf("load average (1 min) at start: %.2f\n", load1);
  std::printf(
      "reports sent %llu in %.1f s, acked %llu, rejected %llu, streams broken %llu, "
      "lost %lld\n",
      static_cast<unsigned long long>(sent), absl::ToDoubleSeconds(sent_until - start),
      static_cast<unsigned long long>(acked),
      static_cast<unsigned long long>(totals.rejected.load()),
      static_cast<unsigned long long>(totals.stream_errors.load()),
      static_cast<long long>(sent - acked - totals.rejected.load()));
  std::printf("target-windows stored: %.0f in %.1f s (%.0f /s)\n", stored, elapsed,
              stored / elapsed);
  std::printf("window close -> durable (collector): p50 %.1f ms, p99 %.1f ms\n", p50 * 1e3,
              p99 * 1e3);
  {
    std::lock_guard<std::mutex> lock(totals.mu);
    if (!totals.ack_delay_ms.empty()) {
      std::printf("window close -> ack at the probe:    p50 %.1f ms, p99 %.1f ms\n",
                  totals.ack_delay_ms.Quantile(0.5), totals.ack_delay_ms.Quantile(0.99));
    }
  }
  auto q = [&](const char* name, const char* quantile) {
    return MetricValue(metrics, absl::StrCat(name, "{quantile=\"", quantile, "\"}"));
  };
  std::printf(
      "  of which: queue wait p50 %.1f ms, p99 %.1f ms; store+fsync per batch p50 %.1f ms, "
      "p99 %.1f ms; reports per batch p50 %.0f, p99 %.0f\n",
      q("vantage_collector_ingest_queue_wait_seconds", "0.5") * 1e3,
      q("vantage_collector_ingest_queue_wait_seconds", "0.99") * 1e3,
      q("vantage_collector_store_batch_seconds", "0.5") * 1e3,
      q("vantage_collector_store_batch_seconds", "0.99") * 1e3,
      q("vantage_collector_store_batch_reports", "0.5"),
      q("vantage_collector_store_batch_reports", "0.99"));
  std::printf("collector CPU: %.1f s in %.1f s (%.2f cores); load generator CPU %.1f s\n",
              collector_cpu, elapsed, collector_cpu / elapsed, self_cpu);
  std::printf("collector peak RSS: %.1f MiB\n", static_cast<double>(peak_kb) / 1024);
  return sent == acked ? 0 : 1;
}
