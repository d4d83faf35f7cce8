// CollectorServer: vantage-collector assembled — the gRPC server (Ingest and
// Query over mutual TLS), the SQLite store behind the single-writer
// pipeline, retention, /metrics, and (with a `control` section) the closed
// loop: a ControlLoop over BuildGraphFromLatest(state().Latest()), with the
// configured router adapter, guardrails, the audit log in the collector's
// database file and ObservedPopLoads as the rollback feed.
//
// Thread model: Start() and Shutdown() from one controlling thread; gRPC
// and the pipeline run their own threads.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "collector/collector_config.h"
#include "collector/collector_state.h"
#include "collector/control_loop.h"
#include "collector/ingest_pipeline.h"
#include "collector/ingest_service.h"
#include "collector/query_service.h"
#include "core/clock.h"
#include "core/metrics_http_server.h"
#include "grpcpp/server.h"
#include "push/audit_log.h"
#include "push/pusher.h"
#include "push/router_adapter.h"

namespace vantage::collector {

class CollectorServer {
 public:
  static absl::StatusOr<std::unique_ptr<CollectorServer>> Start(const CollectorConfig& config,
                                                                const Clock* clock);
  ~CollectorServer();
  CollectorServer(const CollectorServer&) = delete;
  CollectorServer& operator=(const CollectorServer&) = delete;

  // Stops accepting, lets in-flight reports finish storing, then returns.
  void Shutdown();
  void Wait();

  int port() const { return port_; }
  uint16_t metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  CollectorState& state() { return *state_; }
  // Prometheus text exposition of the collector's metrics.
  std::string RenderMetrics();
  // The control loop, when configured (else nullptr).
  ControlLoop* control_loop() { return control_.get(); }

 private:
  CollectorServer() = default;
  void RetentionLoop();
  absl::Status StartControlLoop(const PushModel& model);

  CollectorConfig config_;
  const Clock* clock_ = nullptr;
  std::unique_ptr<ReportValidator> validator_;
  std::unique_ptr<CollectorState> state_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> metrics_;
  // The control loop, stopped first on shutdown (it reads state_).
  std::unique_ptr<push::RouterAdapter> adapter_;
  std::unique_ptr<push::AuditLog> audit_;
  std::unique_ptr<push::Pusher> pusher_;
  std::unique_ptr<ControlLoop> control_;
  int port_ = 0;

  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool stopping_ = false;
  std::thread retention_thread_;
};

}  // namespace vantage::collector
