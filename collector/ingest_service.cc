#include "collector/ingest_service.h"

#include <deque>
#include <memory>
#include <mutex>

#include "google/protobuf/arena.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"
#include "spdlog/spdlog.h"

namespace vantage::collector {

std::string PeerCommonName(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  const auto values = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  if (values.empty()) return "";
  return std::string(values.front().data(), values.front().size());
}

namespace {

// A report and everything in it (strings, series, sketches) is allocated on
// its own arena: one block instead of hundreds of mallocs and frees per
// report. The report lives as long as the arena (shared with the pipeline).
std::shared_ptr<v1::ProbeReport> NewReport() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = size_t{16} * 1024;
  options.max_block_size = size_t{256} * 1024;
  auto arena = std::make_shared<google::protobuf::Arena>(options);
  v1::ProbeReport* report = google::protobuf::Arena::CreateMessage<v1::ProbeReport>(arena.get());
  return std::shared_ptr<v1::ProbeReport>(std::move(arena), report);
}

class ReportReactor final : public grpc::ServerBidiReactor<v1::ProbeReport, v1::ReportAck> {
 public:
  ReportReactor(grpc::CallbackServerContext* context, const ReportValidator* validator,
                IngestPipeline* pipeline, CollectorState* state, const Clock* clock)
      : validator_(validator), pipeline_(pipeline), state_(state), clock_(clock) {
    peer_ = PeerCommonName(*context);
    const Verdict verdict = validator_->CheckPeer(peer_);
    if (!verdict.ok()) {
      state_->RecordReject(verdict.reason);
      Finish(grpc::Status(verdict.reason == RejectReason::kUnauthenticated
                              ? grpc::StatusCode::UNAUTHENTICATED
                              : grpc::StatusCode::PERMISSION_DENIED,
                          verdict.detail));
      return;
    }
    state_->StreamOpened(peer_);
    opened_ = true;
    incoming_ = NewReport();
    reading_ = true;
    StartRead(incoming_.get());
  }

  void OnReadDone(bool ok) override {
    std::unique_lock<std::recursive_mutex> lock(mu_);
    // reading_ stays true until this report is queued, so a completion on
    // the writer thread can't start the next read (and queue a later report
    // first) while the lock is released around Submit.
    if (!ok) {
      reading_ = false;
      read_closed_ = true;
      MaybeFinishLocked();
      return;
    }
    std::shared_ptr<v1::ProbeReport> report = std::move(incoming_);
    const Verdict verdict = validator_->Validate(*report, peer_, clock_->Now());
    if (!verdict.ok()) {
      state_->RecordReject(verdict.reason);
      v1::ReportAck ack;
      ack.set_report_id(report->report_id());
      ack.set_result(v1::ReportAck::RESULT_REJECTED);
      ack.set_reason(std::string(RejectReasonName(verdict.reason)) + ": " + verdict.detail);
      spdlog::warn("rejected a window of {}: {}", report->probe_id(), ack.reason());
      QueueAckLocked(std::move(ack));
    } else {
      ++in_flight_;
      lock.unlock();
      // May block on pipeline backpressure; never while holding mu_.
      pipeline_->Submit(report, [this, id = report->report_id()](
                                    const absl::StatusOr<ReportStore::Outcome>& outcome) {
        OnStored(id, outcome);
      });
      lock.lock();
    }
    reading_ = false;
    ContinueReadingLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    writing_ = false;
    acks_.pop_front();
    if (!ok) {
      // The client is gone; what was not acked will be resent and deduplicated.
      acks_.clear();
      write_failed_ = true;
    }
    WriteNextLocked();
    ContinueReadingLocked();
    MaybeFinishLocked();
  }

  void OnDone() override {
    if (opened_) state_->StreamClosed(peer_);
    delete this;
  }

  void OnCancel() override {}

 private:
  void OnStored(const std::string& id, const absl::StatusOr<ReportStore::Outcome>& outcome) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    --in_flight_;
    if (outcome.ok()) {
      v1::ReportAck ack;
      ack.set_report_id(id);
      ack.set_result(*outcome == ReportStore::Outcome::kStored ? v1::ReportAck::RESULT_STORED
                                                               : v1::ReportAck::RESULT_DUPLICATE);
      QueueAckLocked(std::move(ack));
    }
    // A storage error sends no ack: the probe keeps the report and resends.
    ContinueReadingLocked();
    MaybeFinishLocked();
  }

  void QueueAckLocked(v1::ReportAck ack) {
    if (write_failed_) return;
    acks_.push_back(std::move(ack));
    WriteNextLocked();
  }

  void WriteNextLocked() {
    if (writing_ || acks_.empty() || finished_) return;
    writing_ = true;
    StartWrite(&acks_.front());
  }

  void ContinueReadingLocked() {
    if (reading_ || read_closed_ || finished_) return;
    if (in_flight_ + static_cast<int>(acks_.size()) >= IngestService::kMaxInFlight) return;
    incoming_ = NewReport();
    reading_ = true;
    StartRead(incoming_.get());
  }

  void MaybeFinishLocked() {
    if (finished_ || !read_closed_ || in_flight_ > 0 || writing_ || !acks_.empty()) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  const ReportValidator* validator_;
  IngestPipeline* pipeline_;
  CollectorState* state_;
  const Clock* clock_;
  std::string peer_;
  bool opened_ = false;

  // Recursive: gRPC may run a reaction inline from a Start* call made while
  // the lock is held.
  std::recursive_mutex mu_;
  std::shared_ptr<v1::ProbeReport> incoming_;
  std::deque<v1::ReportAck> acks_;
  int in_flight_ = 0;
  bool reading_ = false;
  bool read_closed_ = false;
  bool writing_ = false;
  bool write_failed_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::ProbeReport, v1::ReportAck>* IngestService::Report(
    grpc::CallbackServerContext* context) {
  return new ReportReactor(context, validator_, pipeline_, state_, clock_);
}

}  // namespace vantage::collector
