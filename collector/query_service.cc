#include "collector/query_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "collector/ingest_service.h"
#include "spdlog/spdlog.h"

namespace vantage::collector {

grpc::ServerUnaryReactor* QueryService::Deny(grpc::CallbackServerContext* context) {
  if (operators_.empty()) return nullptr;
  const std::string peer = PeerCommonName(*context);
  if (std::find(operators_.begin(), operators_.end(), peer) != operators_.end()) return nullptr;
  if (denied_.fetch_add(1) < 10) {
    spdlog::warn("query denied: certificate '{}' is not an operator", peer);
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                   absl::StrCat("certificate '", peer, "' is not in the collector's operators")));
  return reactor;
}

grpc::ServerUnaryReactor* QueryService::Status(grpc::CallbackServerContext* context,
                                               const v1::StatusRequest* /*request*/,
                                               v1::StatusResponse* response) {
  if (auto* denied = Deny(context)) return denied;
  for (const ProbeSnapshot& p : state_->Probes()) {
    auto* out = response->add_probes();
    out->set_probe_id(p.probe_id);
    out->set_pop(p.pop);
    out->set_connected(p.streams > 0);
    if (p.last_report != absl::InfinitePast()) {
      out->set_last_report_unix_ns(absl::ToUnixNanos(p.last_report));
    }
    out->set_reports(p.reports);
  }
  for (const auto& [reason, n] : state_->Rejects()) (*response->mutable_rejects())[reason] = n;
  response->set_reports_stored(state_->reports_stored());
  response->set_windows_stored(state_->series_stored());
  response->set_duplicates(state_->duplicates());
  pipeline_->WithStore([&](ReportStore& store) {
    if (auto size = store.SizeBytes(); size.ok()) {
      response->set_storage_bytes(static_cast<uint64_t>(*size));
    }
  });
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* QueryService::Latest(grpc::CallbackServerContext* context,
                                               const v1::LatestRequest* request,
                                               v1::LatestResponse* response) {
  if (auto* denied = Deny(context)) return denied;
  // One synthetic report per (probe, window end) holding its latest series.
  std::map<std::pair<std::string, absl::Time>, v1::ProbeReport*> reports;
  for (const auto& [key, latest] : state_->Latest()) {
    if (!request->pop().empty() && key.pop != request->pop()) continue;
    v1::ProbeReport*& r = reports[{latest.probe_id, latest.window_end}];
    if (r == nullptr) {
      r = response->add_windows();
      r->set_schema_version(1);
      r->set_probe_id(latest.probe_id);
      r->set_pop(key.pop);
      r->set_window_end_unix_ns(absl::ToUnixNanos(latest.window_end));
    }
    switch (key.kind) {
      case SeriesKind::kActive:
        r->add_active()->ParseFromString(latest.body);
        break;
      case SeriesKind::kPassive:
        r->add_passive()->ParseFromString(latest.body);
        break;
      case SeriesKind::kDns:
        r->add_dns()->ParseFromString(latest.body);
        break;
    }
  }
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace vantage::collector
