#include "collector/collector_state.h"

#include "absl/strings/str_cat.h"

namespace vantage::collector {

CollectorState::CollectorState(const absl::flat_hash_map<std::string, std::string>& probe_pops) {
  for (auto& [probe, pop] : probe_pops) {
    probes_[probe] = ProbeSnapshot{probe, pop, 0, absl::InfinitePast(), 0};
  }
}

void CollectorState::StreamOpened(const std::string& probe_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = probes_.find(probe_id); it != probes_.end()) ++it->second.streams;
}

void CollectorState::StreamClosed(const std::string& probe_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = probes_.find(probe_id); it != probes_.end()) --it->second.streams;
}

void CollectorState::RecordReject(RejectReason reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++rejects_[reason];
}

void CollectorState::RecordDuplicate() { duplicates_.fetch_add(1); }

void CollectorState::RecordStored(const v1::ProbeReport& r, absl::Time stored_at) {
  const absl::Time end = absl::FromUnixNanos(r.window_end_unix_ns());
  const uint64_t series = static_cast<uint64_t>(r.active_size()) +
                          static_cast<uint64_t>(r.passive_size()) +
                          static_cast<uint64_t>(r.dns_size());
  std::lock_guard<std::mutex> lock(mu_);
  stored_.fetch_add(1);
  series_stored_.fetch_add(series);
  storage_delay_s_.Add(absl::ToDoubleSeconds(stored_at - end));
  if (auto it = probes_.find(r.probe_id()); it != probes_.end()) {
    it->second.last_report = std::max(it->second.last_report, end);
    ++it->second.reports;
  }
  // The lookup key is reused (assign keeps its capacity) and the body is
  // serialized into the slot's own buffer: no allocation per series once
  // the key is known.
  SeriesKey& key = scratch_key_;
  key.pop.assign(r.pop());
  auto remember = [&](const google::protobuf::MessageLite& m) {
    auto it = latest_.find(key);
    if (it == latest_.end()) it = latest_.emplace(key, LatestSeries{}).first;
    LatestSeries& slot = it->second;
    if (slot.window_end > end && !slot.body.empty()) return;  // a replayed older window
    slot.window_end = end;
    slot.probe_id.assign(r.probe_id());
    m.SerializeToString(&slot.body);
  };
  key.kind = SeriesKind::kActive;
  for (const auto& s : r.active()) {
    key.key.assign(s.target());
    key.method = s.method();
    remember(s);
  }
  key.kind = SeriesKind::kPassive;
  for (const auto& s : r.passive()) {
    key.key.assign(s.client_prefix());
    key.method = s.method();
    remember(s);
  }
  key.kind = SeriesKind::kDns;
  key.method = v1::METHOD_DNS;
  for (const auto& s : r.dns()) {
    key.key = absl::StrCat(s.server(), "|", s.qname(), "|", s.qtype());
    remember(s);
  }
}

std::vector<ProbeSnapshot> CollectorState::Probes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ProbeSnapshot> out;
  out.reserve(probes_.size());
  for (const auto& [id, p] : probes_) out.push_back(p);
  std::sort(out.begin(), out.end(),
            [](const ProbeSnapshot& a, const ProbeSnapshot& b) { return a.probe_id < b.probe_id; });
  return out;
}

std::map<std::string, uint64_t> CollectorState::Rejects() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, uint64_t> out;
  for (const auto& [reason, n] : rejects_) out[RejectReasonName(reason)] = n;
  return out;
}

QuantileSketch CollectorState::StorageDelay() const {
  std::lock_guard<std::mutex> lock(mu_);
  return storage_delay_s_;
}

std::map<SeriesKey, LatestSeries> CollectorState::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

}  // namespace vantage::collector
