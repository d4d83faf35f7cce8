#include "probe/exporter.h"

#include <algorithm>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/vantage.grpc.pb.h"

namespace vantage::probe {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " file given"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file '", path, "'"));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

Exporter::Exporter(Spool* spool, ExporterOptions options)
    : spool_(spool), options_(std::move(options)) {}

Exporter::~Exporter() { Stop(); }

absl::Status Exporter::LoadCredentials() {
  auto ca = ReadPem(options_.ca_file, "CA");
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem(options_.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(options_.key_file, "key");
  if (!key.ok()) return key.status();
  ca_pem_ = *std::move(ca);
  cert_pem_ = *std::move(cert);
  key_pem_ = *std::move(key);
  credentials_loaded_ = true;
  return absl::OkStatus();
}

absl::Status Exporter::Start() {
  if (!credentials_loaded_) {
    if (absl::Status s = LoadCredentials(); !s.ok()) return s;
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void Exporter::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wake_generation_;
  }
  cv_.notify_all();
}

void Exporter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

ExporterStats Exporter::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Exporter::Run() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.min_backoff;
  for (;;) {
    const uint64_t stored_before = Stats().stored + Stats().duplicates + Stats().rejected;
    RunConnection();
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) return;
    // Progress on that connection resets the backoff.
    if (stats_.stored + stats_.duplicates + stats_.rejected > stored_before) {
      backoff = options_.min_backoff;
    }
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    const absl::Duration wait = backoff * jitter(rng);
    backoff = std::min(backoff * 2, options_.max_backoff);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [&] { return stop_; });
    if (stop_) return;
  }
}

void Exporter::RunConnection() {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem_;
  ssl.pem_cert_chain = cert_pem_;
  ssl.pem_private_key = key_pem_;
  grpc::ChannelArguments args;
  if (!options_.server_name.empty()) {
    args.SetSslTargetNameOverride(options_.server_name);
  }
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5'000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Each connection gets a fresh subchannel, not one shared with an earlier
  // broken attempt, so a restarted collector is picked up at once.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(options_.target, grpc::SslCredentials(ssl), args);
  // In short slices, so that Stop() is not held up by a connection attempt.
  const absl::Time connect_deadline = absl::Now() + options_.connect_timeout;
  bool connected = false;
  while (!connected && absl::Now() < connect_deadline) {
    connected =
        channel->WaitForConnected(std::chrono::system_clock::now() +
                                  absl::ToChronoNanoseconds(std::min(
                                      absl::Milliseconds(100), connect_deadline - absl::Now())));
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
  }
  if (!connected) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.connect_failures;
    stats_.last_error = absl::StrCat("cannot connect to ", options_.target);
    return;
  }
  auto stub = v1::Ingest::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Report(&context);
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.connects;
    stats_.connected = true;
    in_flight_.clear();
  }

  std::thread reader([&] {
    v1::ReportAck ack;
    while (stream->Read(&ack)) {
      uint64_t seq = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = in_flight_.find(ack.report_id());
        if (it == in_flight_.end()) continue;
        seq = it->second;
        in_flight_.erase(it);
        switch (ack.result()) {
          case v1::ReportAck::RESULT_STORED:
            ++stats_.stored;
            break;
          case v1::ReportAck::RESULT_DUPLICATE:
            ++stats_.duplicates;
            break;
          default:
            ++stats_.rejected;
            stats_.last_error = absl::StrCat("collector rejected a window: ", ack.reason());
            break;
        }
      }
      (void)spool_->Remove(seq);
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.connected = false;
    cv_.notify_all();
  });

  uint64_t last_sent = 0;
  v1::ProbeReport report;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_ || !stats_.connected) break;
      if (static_cast<int>(in_flight_.size()) >= options_.max_in_flight) {
        cv_.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
    }
    std::optional<SpoolRecord> record = spool_->Next(last_sent);
    if (!record) {
      std::unique_lock<std::mutex> lock(mu_);
      const uint64_t generation = wake_generation_;
      cv_.wait_for(lock, std::chrono::milliseconds(500),
                   [&] { return stop_ || !stats_.connected || wake_generation_ != generation; });
      continue;
    }
    last_sent = record->seq;
    if (record->payload.size() > options_.max_report_bytes) {
      (void)spool_->Remove(record->seq);
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.oversized;
      stats_.last_error = "dropped a window larger than max_report_bytes";
      continue;
    }
    if (!report.ParseFromString(record->payload)) {
      // Not a report at all (can't happen with a valid checksum, but a bug
      // must not wedge the spool).
      (void)spool_->Remove(record->seq);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_[report.report_id()] = record->seq;
      ++stats_.sent;
    }
    if (!stream->Write(report)) break;
  }
  context.TryCancel();
  reader.join();
  const grpc::Status status = stream->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.connected = false;
  in_flight_.clear();
  if (!status.ok() && !stop_) {
    stats_.last_error = absl::StrCat("stream ended: ", status.error_message());
  }
}

}  // namespace vantage::probe
