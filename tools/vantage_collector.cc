// vantage-collector: receives probe windows over mutual-TLS gRPC, stores
// them in SQLite, and serves status and /metrics.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "collector/collector_config.h"
#include "collector/collector_server.h"
#include "core/clock.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vantage-collector: receives probe windows (gRPC, mutual TLS), stores them in SQLite,\n"
      "and serves vantagectl's queries and Prometheus /metrics."};
  std::string config_path;
  bool check_only = false;
  std::string ready_file;
  app.add_option("-c,--config", config_path, "YAML configuration file")->required();
  app.add_flag("--check-config", check_only, "Validate the configuration and exit");
  app.add_option("--ready-file", ready_file,
                 "Once listening, write '<grpc port> <metrics port>' to this file");
  CLI11_PARSE(app, argc, argv);

  auto config = vantage::collector::CollectorConfig::Load(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "vantage-collector: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (check_only) {
    std::printf("%s: OK (%zu probes", config_path.c_str(), config->probe_pops.size());
    if (config->control.has_value()) {
      std::printf("; control loop: %zu PoPs, %zu regions, %s adapter", config->control->pops.size(),
                  config->control->regions.size(), config->control->adapter.type.c_str());
    }
    std::printf(")\n");
    return 0;
  }
  // Debian's Abseil checks every absl::Mutex (gRPC's locks) for lock-order
  // cycles, a debug aid that cost ~4% of the collector's CPU under load.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  auto server = vantage::collector::CollectorServer::Start(*config, &vantage::RealClock::Get());
  if (!server.ok()) {
    std::fprintf(stderr, "vantage-collector: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  spdlog::info("vantage-collector listening on port {} (metrics port {}), database {}",
               (*server)->port(), (*server)->metrics_port(), config->database);
  if (!ready_file.empty()) {
    const std::string tmp = ready_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d %u\n", (*server)->port(), (*server)->metrics_port());
      std::fclose(f);
      std::rename(tmp.c_str(), ready_file.c_str());
    }
  }
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("vantage-collector: shutting down");
  (*server)->Shutdown();
  return 0;
}
