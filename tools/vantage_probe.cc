// vantage-probe: the measurement daemon of an edge PoP. Runs the configured
// active, passive and DNS measurements on one event loop, closes windows and
// ships them to the collector (logic in probe/ProbeDaemon).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string>

#include "probe/probe_config.h"
#include "probe/probe_daemon.h"

int main(int argc, char** argv) {
  CLI::App app{
      "vantage-probe: measures (active ICMP/TCP/STAMP, passive TCP RTT, DNS), closes windows and\n"
      "streams them to vantage-collector over mutual-TLS gRPC. SIGHUP reloads the config,\n"
      "SIGTERM flushes the open window and exits."};
  std::string config_path;
  bool check_only = false;
  std::string ready_file;
  app.add_option("-c,--config", config_path, "YAML configuration file")->required();
  app.add_flag("--check-config", check_only, "Validate the configuration, print OK or the error");
  app.add_option("--ready-file", ready_file,
                 "Once running, write '<metrics port>' to this file (tests, supervisors)");
  CLI11_PARSE(app, argc, argv);

  auto config = vantage::probe::ProbeConfig::Load(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "vantage-probe: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (check_only) {
    std::printf("%s: OK\n", config_path.c_str());
    return 0;
  }
  // Before any thread starts, so every thread inherits the mask and the
  // signals reach the daemon's signalfd only.
  if (auto s = vantage::probe::ProbeDaemon::BlockSignals(); !s.ok()) {
    std::fprintf(stderr, "vantage-probe: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);

  vantage::probe::ProbeDaemon daemon(std::move(*config), config_path);
  if (auto s = daemon.Start(); !s.ok()) {
    std::fprintf(stderr, "vantage-probe: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  spdlog::info("vantage-probe running (config {}, metrics port {})", config_path,
               daemon.metrics_port());
  if (!ready_file.empty()) {
    const std::string tmp = ready_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%u\n", daemon.metrics_port());
      std::fclose(f);
      std::rename(tmp.c_str(), ready_file.c_str());
    }
  }
  if (auto s = daemon.Run(); !s.ok()) {
    std::fprintf(stderr, "vantage-probe: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
