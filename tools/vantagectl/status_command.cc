// `vantagectl status`: the collector's view — probes connected, age of each
// probe's last window, rejects by reason, storage size.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/vantage.grpc.pb.h"
#include "tools/vantagectl/command.h"

namespace {

struct StatusOptions {
  std::string collector = "127.0.0.1:7443";
  std::string ca, cert, key, server_name;
  int timeout_ms = 5000;
  bool json = false;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

int RunStatus(const StatusOptions& o) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(o.ca);
  ssl.pem_cert_chain = Slurp(o.cert);
  ssl.pem_private_key = Slurp(o.key);
  if (ssl.pem_root_certs.empty() || ssl.pem_cert_chain.empty() || ssl.pem_private_key.empty()) {
    std::fprintf(stderr,
                 "vantagectl status: need readable --ca, --cert and --key (or VANTAGE_CA, "
                 "VANTAGE_CERT, VANTAGE_KEY)\n");
    return 2;
  }
  grpc::ChannelArguments args;
  if (!o.server_name.empty()) args.SetSslTargetNameOverride(o.server_name);
  auto channel = grpc::CreateCustomChannel(o.collector, grpc::SslCredentials(ssl), args);
  auto stub = vantage::v1::Query::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o.timeout_ms));
  vantage::v1::StatusResponse resp;
  const grpc::Status st = stub->Status(&ctx, vantage::v1::StatusRequest(), &resp);
  if (!st.ok()) {
    std::fprintf(stderr, "vantagectl status: %s: %s\n", o.collector.c_str(),
                 st.error_message().c_str());
    return 1;
  }
  const absl::Time now = absl::Now();
  auto age = [&](int64_t ns) -> double {
    return ns == 0 ? -1.0 : absl::ToDoubleSeconds(now - absl::FromUnixNanos(ns));
  };
  if (o.json) {
    nlohmann::json j;
    j["collector"] = o.collector;
    j["reports_stored"] = resp.reports_stored();
    j["windows_stored"] = resp.windows_stored();
    j["duplicates"] = resp.duplicates();
    j["storage_bytes"] = resp.storage_bytes();
    j["rejects"] = nlohmann::json::object();
    for (const auto& [reason, n] : resp.rejects()) j["rejects"][reason] = n;
    j["probes"] = nlohmann::json::array();
    for (const auto& p : resp.probes()) {
      j["probes"].push_back({{"probe", p.probe_id()},
                             {"pop", p.pop()},
                             {"connected", p.connected()},
                             {"reports", p.reports()},
                             {"last_report_age_s", age(p.last_report_unix_ns())}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("collector %s: %llu reports (%llu windows) stored, %llu duplicates, %.1f MiB\n\n",
              o.collector.c_str(), static_cast<unsigned long long>(resp.reports_stored()),
              static_cast<unsigned long long>(resp.windows_stored()),
              static_cast<unsigned long long>(resp.duplicates()),
              static_cast<double>(resp.storage_bytes()) / (1 << 20));
  std::printf("%-24s %-10s %-10s %10s %14s\n", "PROBE", "POP", "CONNECTED", "REPORTS",
              "LAST WINDOW");
  for (const auto& p : resp.probes()) {
    const double a = age(p.last_report_unix_ns());
    std::printf("%-24s %-10s %-10s %10llu %14s\n", p.probe_id().c_str(), p.pop().c_str(),
                p.connected() ? "yes" : "no", static_cast<unsigned long long>(p.reports()),
                a < 0 ? "never" : absl::StrFormat("%.0fs ago", a).c_str());
  }
  if (!resp.rejects().empty()) {
    std::printf("\n%-24s %10s\n", "REJECTED (REASON)", "COUNT");
    for (const auto& [reason, n] : resp.rejects()) {
      std::printf("%-24s %10llu\n", reason.c_str(), static_cast<unsigned long long>(n));
    }
  }
  return 0;
}

void SetupStatus(CLI::App& app) {
  auto opts = std::make_shared<StatusOptions>();
  opts->collector = Env("VANTAGE_COLLECTOR", opts->collector);
  opts->ca = Env("VANTAGE_CA", "");
  opts->cert = Env("VANTAGE_CERT", "");
  opts->key = Env("VANTAGE_KEY", "");
  auto* cmd = app.add_subcommand(
      "status",
      "Ask a collector which probes are connected, how fresh their data is, and why "
      "reports were rejected");
  cmd->add_option("--collector", opts->collector, "Collector address (env VANTAGE_COLLECTOR)")
      ->capture_default_str();
  cmd->add_option("--ca", opts->ca, "CA of the collector's certificate (env VANTAGE_CA)");
  cmd->add_option("--cert", opts->cert, "Client certificate (env VANTAGE_CERT)");
  cmd->add_option("--key", opts->key, "Client key (env VANTAGE_KEY)");
  cmd->add_option("--server-name", opts->server_name,
                  "Name expected in the collector's certificate, if not the host");
  cmd->add_option("--timeout-ms", opts->timeout_ms, "Deadline")->capture_default_str();
  cmd->add_flag("--json", opts->json, "Machine-readable output");
  cmd->callback([opts] { vantagectl::SetExitCode(RunStatus(*opts)); });
}

VANTAGECTL_COMMAND(SetupStatus);

}  // namespace
