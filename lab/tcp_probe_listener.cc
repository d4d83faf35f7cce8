#include "lab/tcp_probe_listener.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace vantage::lab {

absl::Status RunTcpProbeListener(const std::vector<IpAddress>& addresses, uint16_t port,
                                 const std::string& pop_name, const std::string& ready_file) {
  std::vector<pollfd> listeners;
  auto close_all = [&] {
    for (const pollfd& p : listeners) close(p.fd);
  };
  for (const IpAddress& a : addresses) {
    const int fd = socket(a.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      close_all();
      return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a.is_v6()) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    sockaddr_storage ss{};
    const unsigned len = Endpoint(a, port).ToSockaddr(&ss);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 || listen(fd, 128) != 0) {
      const std::string err = std::strerror(errno);
      close(fd);
      close_all();
      return absl::UnavailableError(
          absl::StrCat("listen on ", Endpoint(a, port).ToString(), ": ", err));
    }
    listeners.push_back(pollfd{fd, POLLIN, 0});
  }
  if (!ready_file.empty()) std::ofstream(ready_file) << "ready\n";
  const std::string banner = absl::StrCat("vantage-lab ", pop_name, "\n");
  while (true) {
    const int n = poll(listeners.data(), listeners.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      close_all();
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    for (pollfd& p : listeners) {
      if ((p.revents & POLLIN) == 0) continue;
      const int client = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      [[maybe_unused]] ssize_t w = send(client, banner.data(), banner.size(), MSG_NOSIGNAL);
      close(client);
    }
  }
}

}  // namespace vantage::lab
