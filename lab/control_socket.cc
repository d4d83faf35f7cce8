#include "lab/control_socket.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/clock.h"

namespace vantage::lab {
namespace {

constexpr size_t kMaxRequest = size_t{64} * 1024;

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

absl::StatusOr<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Create(EventLoop* loop,
                                                                     const std::string& path,
                                                                     Handler handler) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket(AF_UNIX)");
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0 ||
      listen(fd, 16) != 0) {
    auto st = Errno(absl::StrCat("listen on ", path));
    close(fd);
    return st;
  }
  std::unique_ptr<ControlServer> server(new ControlServer(loop, path, fd, std::move(handler)));
  ControlServer* raw = server.get();
  absl::Status st = loop->WatchFd(fd, EPOLLIN, [raw](uint32_t) { raw->Accept(); });
  if (!st.ok()) return st;
  return server;
}

ControlServer::ControlServer(EventLoop* loop, std::string path, int listen_fd, Handler handler)
    : loop_(loop), path_(std::move(path)), listen_fd_(listen_fd), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  while (!clients_.empty()) CloseClient(clients_.begin()->first);
  loop_->UnwatchFd(listen_fd_);
  close(listen_fd_);
  unlink(path_.c_str());
}

void ControlServer::Accept() {
  while (true) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that went away: nothing to serve
    if (!loop_->WatchFd(fd, EPOLLIN, [this, fd](uint32_t) { OnClientReadable(fd); }).ok()) {
      close(fd);
      continue;
    }
    clients_[fd];
  }
}

void ControlServer::OnClientReadable(int fd) {
  std::string& buffer = clients_[fd];
  char chunk[4096];
  while (true) {
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      if (buffer.size() > kMaxRequest) return CloseClient(fd);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    // End of stream (or error) before a full line: treat what arrived as the
    // request if there is any.
    if (buffer.empty()) return CloseClient(fd);
    buffer.push_back('\n');
    break;
  }
  const size_t newline = buffer.find('\n');
  if (newline == std::string::npos) return;
  const std::string response = handler_(buffer.substr(0, newline)) + "\n";
  // Responses are small; a blocking write bounded by the socket buffer is
  // acceptable on the loop thread for a local admin client.
  WriteAll(fd, response);
  CloseClient(fd);
}

void ControlServer::CloseClient(int fd) {
  loop_->UnwatchFd(fd);
  clients_.erase(fd);
  close(fd);
}

absl::StatusOr<std::string> SendControlRequest(const std::string& path, const std::string& request,
                                               absl::Duration timeout) {
  absl::StatusOr<sockaddr_un> addr = UnixAddress(path);
  if (!addr.ok()) return addr.status();
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket(AF_UNIX)");
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    auto st = absl::UnavailableError(
        absl::StrCat("cannot reach the emulator at ", path, ": ", std::strerror(errno)));
    close(fd);
    return st;
  }
  if (!WriteAll(fd, request + "\n")) {
    close(fd);
    return Errno("send control request");
  }
  const absl::Time deadline = RealClock::Get().MonotonicNow() + timeout;
  std::string response;
  char chunk[4096];
  while (response.find('\n') == std::string::npos) {
    const absl::Duration left = deadline - RealClock::Get().MonotonicNow();
    if (left <= absl::ZeroDuration()) {
      close(fd);
      return absl::DeadlineExceededError("the emulator did not answer in time");
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    response.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  const size_t newline = response.find('\n');
  if (newline == std::string::npos) {
    return absl::UnavailableError("the emulator closed the control connection without answering");
  }
  return response.substr(0, newline);
}

}  // namespace vantage::lab
