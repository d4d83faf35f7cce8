#include "collector/collector_server.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/latest_graph.h"
#include "core/status_macros.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "push/exabgp_adapter.h"
#include "push/json_file_adapter.h"

namespace vantage::collector {

absl::StatusOr<std::unique_ptr<CollectorServer>> CollectorServer::Start(
    const CollectorConfig& config, const Clock* clock) {
  std::unique_ptr<CollectorServer> s(new CollectorServer());
  s->config_ = config;
  s->clock_ = clock;

  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  VANTAGE_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFileToString(config.tls.ca));
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  VANTAGE_ASSIGN_OR_RETURN(pair.private_key, ReadFileToString(config.tls.key));
  VANTAGE_ASSIGN_OR_RETURN(pair.cert_chain, ReadFileToString(config.tls.cert));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));

  VANTAGE_ASSIGN_OR_RETURN(auto store, ReportStore::Open(config.database));
  s->validator_ = std::make_unique<ReportValidator>(config.probe_pops, config.limits);
  s->state_ = std::make_unique<CollectorState>(config.probe_pops);
  s->pipeline_ = std::make_unique<IngestPipeline>(std::move(store), s->state_.get(), clock);
  s->ingest_ = std::make_unique<IngestService>(s->validator_.get(), s->pipeline_.get(),
                                               s->state_.get(), clock);
  s->query_ = std::make_unique<QueryService>(s->state_.get(), s->pipeline_.get(), config.operators);

  grpc::ServerBuilder builder;
  const std::string address =
      config.listen.address().is_v6()
          ? absl::StrCat("[", config.listen.address().ToString(), "]:", config.listen.port())
          : config.listen.ToString();
  builder.AddListeningPort(address, grpc::SslServerCredentials(ssl), &s->port_);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.RegisterService(s->ingest_.get());
  builder.RegisterService(s->query_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  if (config.control.has_value()) VANTAGE_RETURN_IF_ERROR(s->StartControlLoop(*config.control));
  if (!config.metrics_listen.empty()) {
    VANTAGE_ASSIGN_OR_RETURN(Endpoint metrics_ep, Endpoint::Parse(config.metrics_listen));
    CollectorServer* raw = s.get();
    VANTAGE_ASSIGN_OR_RETURN(
        s->metrics_, MetricsHttpServer::Start(metrics_ep, [raw] { return raw->RenderMetrics(); }));
  }
  s->retention_thread_ = std::thread([raw = s.get()] { raw->RetentionLoop(); });
  return s;
}

absl::Status CollectorServer::StartControlLoop(const PushModel& model) {
  if (model.adapter.type == "exabgp") {
    VANTAGE_ASSIGN_OR_RETURN(adapter_, push::ExabgpAdapter::Create(model.adapter.socket));
  } else if (model.adapter.type == "json") {
    adapter_ = std::make_unique<push::JsonFileAdapter>(model.adapter.path);
  } else {
    return absl::InvalidArgumentError("control: no adapter configured");
  }
  VANTAGE_ASSIGN_OR_RETURN(audit_, push::AuditLog::Open(config_.database));
  pusher_ = std::make_unique<push::Pusher>(adapter_.get(), audit_.get(), clock_, model.guardrails);
  CollectorState* state = state_.get();
  const Clock* clock = clock_;
  // Called only from the control loop's thread.
  auto loss_history = std::make_shared<LossHistory>(model.loss_half_life);
  control_ = std::make_unique<ControlLoop>(
      model, OptimizerConfigFor(model),
      [model, state, clock, loss_history]() -> absl::StatusOr<GraphSnapshot> {
        VANTAGE_ASSIGN_OR_RETURN(
            LatestGraph g,
            BuildGraphFromLatest(model, state->Latest(), clock->Now(), loss_history.get()));
        return GraphSnapshot{std::move(g.graph), g.newest};
      },
      pusher_.get(), clock_);
  control_->SetObservedLoadSource([model, state, clock](absl::Time since) {
    return ObservedPopLoads(model, state->Latest(), since, clock->Now());
  });
  control_->Start();
  spdlog::info("control loop: every {} (period {}), adapter {}",
               absl::FormatDuration(model.check_interval), absl::FormatDuration(model.period),
               adapter_->name());
  return absl::OkStatus();
}

CollectorServer::~CollectorServer() { Shutdown(); }

void CollectorServer::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(retention_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) retention_thread_.join();
  if (control_) control_->Stop();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  metrics_.reset();
  pipeline_.reset();  // drains what was accepted
}

void CollectorServer::Wait() {
  if (server_) server_->Wait();
}

void CollectorServer::RetentionLoop() {
  std::unique_lock<std::mutex> lock(retention_mu_);
  while (!stopping_) {
    lock.unlock();
    pipeline_->WithStore([&](ReportStore& store) {
      auto deleted = store.ExpireBefore(clock_->Now() - config_.limits.retention);
      if (!deleted.ok()) {
        spdlog::warn("retention: {}", deleted.status().ToString());
      } else if (*deleted > 0) {
        spdlog::info("retention: expired {} windows", *deleted);
      }
    });
    lock.lock();
    retention_cv_.wait_for(lock, std::chrono::minutes(10), [&] { return stopping_; });
  }
}

std::string CollectorServer::RenderMetrics() {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  };
  metric("vantage_collector_reports_stored_total", "counter", "Probe reports durably stored.");
  absl::StrAppend(&out, "vantage_collector_reports_stored_total ", state_->reports_stored(), "\n");
  metric("vantage_collector_series_stored_total", "counter",
         "Target/prefix/DNS windows durably stored.");
  absl::StrAppend(&out, "vantage_collector_series_stored_total ", state_->series_stored(), "\n");
  metric("vantage_collector_duplicates_total", "counter",
         "Reports received again after being stored (deduplicated).");
  absl::StrAppend(&out, "vantage_collector_duplicates_total ", state_->duplicates(), "\n");
  metric("vantage_collector_rejects_total", "counter", "Reports or streams refused, by reason.");
  for (const auto& [reason, n] : state_->Rejects()) {
    absl::StrAppend(&out, "vantage_collector_rejects_total{reason=\"", reason, "\"} ", n, "\n");
  }
  metric("vantage_collector_ingest_queue", "gauge", "Reports waiting for the storage writer.");
  absl::StrAppend(&out, "vantage_collector_ingest_queue ", pipeline_->queued(), "\n");
  const QuantileSketch delay = state_->StorageDelay();
  metric("vantage_collector_storage_delay_seconds", "summary",
         "Time from a window's end to its durable storage.");
  for (double q : {0.5, 0.9, 0.99}) {
    absl::StrAppend(&out, "vantage_collector_storage_delay_seconds{quantile=\"", q, "\"} ",
                    delay.empty() ? 0.0 : delay.Quantile(q), "\n");
  }
  absl::StrAppend(&out, "vantage_collector_storage_delay_seconds_count ", delay.count(), "\n");
  // A summary needs _sum; the sketch keeps no sum (exact merging), so use
  // count * median as the documented approximation.
  absl::StrAppend(&out, "vantage_collector_storage_delay_seconds_sum ",
                  delay.empty() ? 0.0 : delay.Quantile(0.5) * static_cast<double>(delay.count()),
                  "\n");
  const IngestPipeline::Timing timing = pipeline_->timing();
  const struct {
    const char* name;
    const char* help;
    const QuantileSketch* sketch;
  } stages[] = {
      {"vantage_collector_ingest_queue_wait_seconds",
       "Time a validated report waited for the storage writer.", &timing.queue_wait_s},
      {"vantage_collector_store_batch_seconds",
       "Time to store one batch durably (inserts and the commit's fsync).", &timing.store_s},
      {"vantage_collector_store_batch_reports", "Reports per stored batch (group commit).",
       &timing.batch_reports},
  };
  for (const auto& stage : stages) {
    metric(stage.name, "summary", stage.help);
    for (double q : {0.5, 0.9, 0.99}) {
      absl::StrAppend(&out, stage.name, "{quantile=\"", q, "\"} ",
                      stage.sketch->empty() ? 0.0 : stage.sketch->Quantile(q), "\n");
    }
    absl::StrAppend(&out, stage.name, "_count ", stage.sketch->count(), "\n");
    absl::StrAppend(&out, stage.name, "_sum ",
                    stage.sketch->empty()
                        ? 0.0
                        : stage.sketch->Quantile(0.5) * static_cast<double>(stage.sketch->count()),
                    "\n");
  }
  metric("vantage_collector_probe_connected", "gauge", "1 when the probe has an open stream.");
  const auto probes = state_->Probes();
  for (const auto& p : probes) {
    absl::StrAppend(&out, "vantage_collector_probe_connected{probe=\"", p.probe_id, "\",pop=\"",
                    p.pop, "\"} ", p.streams > 0 ? 1 : 0, "\n");
  }
  metric("vantage_collector_probe_last_report_age_seconds", "gauge",
         "Seconds since the end of the probe's newest stored window (-1: never).");
  const absl::Time now = clock_->Now();
  for (const auto& p : probes) {
    const double age =
        p.last_report == absl::InfinitePast() ? -1.0 : absl::ToDoubleSeconds(now - p.last_report);
    absl::StrAppend(&out, "vantage_collector_probe_last_report_age_seconds{probe=\"", p.probe_id,
                    "\",pop=\"", p.pop, "\"} ", absl::StrFormat("%.3f", age), "\n");
  }
  metric("vantage_collector_queries_denied_total", "counter",
         "Query calls refused: the certificate is not in the collector's operators.");
  absl::StrAppend(&out, "vantage_collector_queries_denied_total ", query_->denied(), "\n");
  if (control_) absl::StrAppend(&out, control_->MetricsText());
  return out;
}

}  // namespace vantage::collector
