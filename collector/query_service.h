// QueryService: the collector's read API for vantagectl (status, latest
// windows). Same mutual TLS as ingest: any certificate from the deployment's
// CA may read.
//
// Thread model: gRPC callback API; reads CollectorState (thread-safe) and
// asks the pipeline's writer thread for storage figures.
#pragma once

#include "collector/collector_state.h"
#include "collector/ingest_pipeline.h"
#include "core/clock.h"
#include "proto/vantage.grpc.pb.h"

namespace vantage::collector {

class QueryService final : public v1::Query::CallbackService {
 public:
  QueryService(CollectorState* state, IngestPipeline* pipeline)
      : state_(state), pipeline_(pipeline) {}

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const v1::StatusRequest* request,
                                   v1::StatusResponse* response) override;
  grpc::ServerUnaryReactor* Latest(grpc::CallbackServerContext* context,
                                   const v1::LatestRequest* request,
                                   v1::LatestResponse* response) override;

 private:
  CollectorState* state_;
  IngestPipeline* pipeline_;
};

}  // namespace vantage::collector
