// QueryService: the collector's read API for vantagectl (status, latest
// windows). Same mutual TLS as ingest. With an operator list (the config's
// `operators`), only those certificate names may read; every other peer —
// a probe's certificate included — gets PERMISSION_DENIED, counted in
// denied(). Without one, any certificate from the deployment's CA may read.
//
// Thread model: gRPC callback API; reads CollectorState (thread-safe) and
// asks the pipeline's writer thread for storage figures.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "collector/collector_state.h"
#include "collector/ingest_pipeline.h"
#include "core/clock.h"
#include "proto/vantage.grpc.pb.h"

namespace vantage::collector {

class QueryService final : public v1::Query::CallbackService {
 public:
  QueryService(CollectorState* state, IngestPipeline* pipeline,
               std::vector<std::string> operators = {})
      : state_(state), pipeline_(pipeline), operators_(std::move(operators)) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const v1::StatusRequest* request,
                                   v1::StatusResponse* response) override;
  grpc::ServerUnaryReactor* Latest(grpc::CallbackServerContext* context,
                                   const v1::LatestRequest* request,
                                   v1::LatestResponse* response) override;

  uint64_t denied() const { return denied_.load(); }

 private:
  // Finishes the call with PERMISSION_DENIED (and returns that reactor) when
  // the peer may not query; nullptr when it may.
  grpc::ServerUnaryReactor* Deny(grpc::CallbackServerContext* context);

  CollectorState* state_;
  IngestPipeline* pipeline_;
  std::vector<std::string> operators_;
  std::atomic<uint64_t> denied_{0};
};

}  // namespace vantage::collector
