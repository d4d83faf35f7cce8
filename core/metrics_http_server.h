// MetricsHttpServer: serves GET /metrics (Prometheus text exposition format
// 0.0.4) from a render callback, on a plain HTTP/1.0 listener. Both daemons
// use it; nothing else is served (404), and requests are bounded in size and
// time so a slow or hostile scraper can't wedge it.
//
// Thread model: owns one thread that accepts and answers one connection at
// a time; `render` is called on that thread and must be thread-safe with
// respect to the rest of the daemon.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "core/ip_address.h"

namespace vantage {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // Binds `listen` (port 0 picks a free port) and starts serving.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const Endpoint& listen,
                                                                  Render render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  MetricsHttpServer(int listen_fd, int stop_fd, uint16_t port, Render render);
  void Serve();
  void Answer(int fd);

  int listen_fd_;
  int stop_fd_;
  uint16_t port_;
  Render render_;
  std::thread thread_;
};

}  // namespace vantage
