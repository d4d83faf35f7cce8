// CollectorServer: vantage-collector assembled — the gRPC server (Ingest and
// Query over mutual TLS), the SQLite store behind the single-writer
// pipeline, retention, and /metrics.
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
#include "collector/ingest_pipeline.h"
#include "collector/ingest_service.h"
#include "collector/query_service.h"
#include "core/clock.h"
#include "core/metrics_http_server.h"
#include "grpcpp/server.h"

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

 private:
  CollectorServer() = default;
  void RetentionLoop();

  CollectorConfig config_;
  const Clock* clock_ = nullptr;
  std::unique_ptr<ReportValidator> validator_;
  std::unique_ptr<CollectorState> state_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::unique_ptr<IngestService> ingest_;
  std::unique_ptr<QueryService> query_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsHttpServer> metrics_;
  int port_ = 0;

  std::mutex retention_mu_;
  std::condition_variable retention_cv_;
  bool stopping_ = false;
  std::thread retention_thread_;
};

}  // namespace vantage::collector
