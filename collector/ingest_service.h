// IngestService: the gRPC Ingest service — a thin adapter between probe
// streams and the IngestPipeline.
//
// Each stream belongs to one authenticated probe: the CN of its verified
// client certificate (mutual TLS). A stream from an unknown or
// unauthenticated peer is closed at once (UNAUTHENTICATED /
// PERMISSION_DENIED). Every report is validated; a bad one is answered with
// a REJECTED ack and counted by reason, the stream goes on. Good reports go
// to the pipeline and are acked once durable. At most `kMaxInFlight` reports
// per stream wait for storage; reading pauses beyond that.
//
// Thread model: gRPC callback API; reactor methods run on gRPC's threads,
// pipeline completions on the writer thread; each reactor serialises its
// own state with a mutex.
#pragma once

#include "collector/collector_state.h"
#include "collector/ingest_pipeline.h"
#include "collector/report_validator.h"
#include "core/clock.h"
#include "proto/vantage.grpc.pb.h"

namespace vantage::collector {

class IngestService final : public v1::Ingest::CallbackService {
 public:
  static constexpr int kMaxInFlight = 256;

  IngestService(const ReportValidator* validator, IngestPipeline* pipeline, CollectorState* state,
                const Clock* clock)
      : validator_(validator), pipeline_(pipeline), state_(state), clock_(clock) {}

  grpc::ServerBidiReactor<v1::ProbeReport, v1::ReportAck>* Report(
      grpc::CallbackServerContext* context) override;

 private:
  const ReportValidator* validator_;
  IngestPipeline* pipeline_;
  CollectorState* state_;
  const Clock* clock_;
};

// The CN of the peer's verified client certificate, or "" when there is none.
std::string PeerCommonName(const grpc::ServerContextBase& context);

}  // namespace vantage::collector
