#include "push/exabgp_relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vantage::push {

namespace {

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

int Connect(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return -1;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int RunExabgpRelay(const std::string& socket_path) {
  int sock = -1;
  char buf[8192];
  while (true) {
    if (sock < 0) sock = Connect(socket_path);
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {sock, POLLIN, 0}};
    int n = poll(fds, sock >= 0 ? 2 : 1, sock >= 0 ? -1 : 100);
    if (n < 0 && errno != EINTR) return 1;
    if (n <= 0) continue;
    if (fds[0].revents != 0) {
      ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
      if (r <= 0) return 0;  // ExaBGP closed our stdin: it is stopping
      if (sock >= 0) (void)!send(sock, buf, static_cast<size_t>(r), MSG_NOSIGNAL);
    }
    if (sock >= 0 && fds[1].revents != 0) {
      ssize_t r = read(sock, buf, sizeof(buf));
      if (r <= 0) {
        close(sock);
        sock = -1;
        continue;
      }
      if (!WriteAll(STDOUT_FILENO, buf, static_cast<size_t>(r))) return 1;
    }
  }
}

}  // namespace vantage::push
