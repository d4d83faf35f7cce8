// Exporter: ships spooled windows to the collector over one gRPC stream with
// mutual TLS, and forgets a window only when the collector acknowledges it
// (stored, duplicate, or rejected for good).
//
// Windows are replayed in spool order after every reconnect: whatever was
// in flight when a connection died is sent again, and the collector's
// deduplication by report id makes that harmless. Reconnects back off
// exponentially with jitter, from `min_backoff` to `max_backoff`.
//
// Stop() returns within about 100 ms, also while a connection attempt is
// pending (the probe replaces its exporter on a config reload).
//
// Thread model: owns a sender thread and, per connection, a reader thread.
// Notify() and Stats() are thread-safe. The Spool is shared with whoever
// appends windows (it is thread-safe).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "probe/spool.h"

namespace vantage::probe {

struct ExporterOptions {
  std::string target = "127.0.0.1:7443";  // collector host:port
  std::string ca_file;                    // CA of the collector's certificate
  std::string cert_file;                  // this probe's certificate (CN = probe id)
  std::string key_file;
  std::string server_name;  // expected name in the collector's certificate, if not the host
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(5);
  int max_in_flight = 128;  // windows sent and not yet acknowledged
  // Larger windows can never pass the collector's message limit: they are
  // dropped and counted instead of wedging the spool.
  size_t max_report_bytes = 16 << 20;
};

struct ExporterStats {
  uint64_t sent = 0;  // including resends
  uint64_t stored = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t oversized = 0;  // dropped before sending, see max_report_bytes
  uint64_t connects = 0;
  uint64_t connect_failures = 0;
  bool connected = false;
  std::string last_error;
};

class Exporter {
 public:
  Exporter(Spool* spool, ExporterOptions options);
  ~Exporter();  // Stop()
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // Reads the TLS files; fails clearly if one is missing. Start() calls it
  // unless it already succeeded (a config reload checks the files first).
  absl::Status LoadCredentials();
  // Starts the sender thread.
  absl::Status Start();
  // Wakes the sender: a window was appended to the spool.
  void Notify();
  void Stop();
  ExporterStats Stats() const;

 private:
  void Run();
  // One connection's life; returns when it breaks or on Stop().
  void RunConnection();

  Spool* spool_;
  ExporterOptions options_;
  std::string ca_pem_, cert_pem_, key_pem_;
  bool credentials_loaded_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t wake_generation_ = 0;
  std::map<std::string, uint64_t> in_flight_;  // report id -> spool seq
  ExporterStats stats_;
  std::thread thread_;
};

}  // namespace vantage::probe
