// The emulator's control channel: a unix stream socket in the run directory.
// A client connects, sends one request line (JSON), reads one response line
// (JSON), and the server closes the connection.
//
// Thread model: ControlServer lives on an EventLoop and calls its handler on
// the loop thread. SendControlRequest blocks the calling thread (bounded by
// its timeout) and is safe from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/event_loop.h"

namespace vantage::lab {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;

  // Listens on `path` (replacing a stale socket file there).
  static absl::StatusOr<std::unique_ptr<ControlServer>> Create(EventLoop* loop,
                                                               const std::string& path,
                                                               Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  ControlServer(EventLoop* loop, std::string path, int listen_fd, Handler handler);
  void Accept();
  void OnClientReadable(int fd);
  void CloseClient(int fd);

  EventLoop* loop_;
  std::string path_;
  int listen_fd_;
  Handler handler_;
  absl::flat_hash_map<int, std::string> clients_;  // fd -> bytes so far
};

absl::StatusOr<std::string> SendControlRequest(const std::string& path, const std::string& request,
                                               absl::Duration timeout);

}  // namespace vantage::lab
