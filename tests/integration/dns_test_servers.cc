#include "tests/integration/dns_test_servers.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vantage::testing {
namespace {

absl::StatusOr<std::string> MakeTempDir(const char* prefix) {
  std::string templ = absl::StrCat(std::filesystem::temp_directory_path().string(), "/", prefix,
                                   getpid(), "-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  return templ;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string ZoneText() {
  std::string zone =
      "$ORIGIN example.test.\n"
      "$TTL 300\n"
      "@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
      "@ IN NS ns1\n"
      "ns1 IN A 127.0.0.1\n"
      "www IN A 198.18.0.10\n"
      "www IN AAAA 2001:db8::10\n";
  for (int i = 0; i < 40; ++i) {
    absl::StrAppendFormat(&zone, "big IN TXT \"%02d%s\"\n", i, std::string(100, 'y'));
  }
  return zone;
}

}  // namespace

absl::StatusOr<uint16_t> FreeLoopbackPort() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (udp < 0 || bind(udp, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        getsockname(udp, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      if (udp >= 0) close(udp);
      continue;
    }
    const int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool tcp_free = tcp >= 0 && bind(tcp, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    if (tcp >= 0) close(tcp);
    close(udp);
    if (tcp_free) return ntohs(sa.sin_port);
  }
  return absl::UnavailableError("no free loopback port");
}

bool AnswersQueries(const Endpoint& server, const std::string& name, absl::Duration timeout) {
  std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_storage ss{};
  const unsigned len = server.ToSockaddr(&ss);
  const absl::Time deadline = absl::Now() + timeout;
  bool ok = false;
  while (!ok && absl::Now() < deadline) {
    sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
    uint8_t buf[4096];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n >= 12 && buf[0] == 0x12 && buf[1] == 0x34) ok = true;
    if (!ok) usleep(20000);
  }
  close(fd);
  return ok;
}

DnsServerProcess::~DnsServerProcess() {
  Stop();
  if (!directory_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(directory_, ec);
  }
}

void DnsServerProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    usleep(10000);
  }
  pid_ = -1;
}

absl::Status DnsServerProcess::Launch(const std::vector<std::string>& argv,
                                      const std::string& probe_name) {
  const std::string log = directory_ + "/daemon.out";
  // Built before fork(): the child only calls async-signal-safe functions.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  pid_ = pid;
  if (!AnswersQueries(endpoint_, probe_name, absl::Seconds(10))) {
    Stop();
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return absl::UnavailableError(
        absl::StrCat(argv[0], " did not answer on ", endpoint_.ToString(), ": ", text));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DnsServerProcess>> DnsServerProcess::StartNsd(
    const std::string& nsid, const std::string& identity) {
  std::unique_ptr<DnsServerProcess> p(new DnsServerProcess());
  auto dir = MakeTempDir("vtt-nsd-");
  if (!dir.ok()) return dir.status();
  p->directory_ = *dir;
  auto port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  p->endpoint_ = Endpoint(IpAddress::V4(0x7f000001), *port);
  const std::string& d = p->directory_;
  if (auto st = WriteFile(d + "/example.test.zone", ZoneText()); !st.ok()) return st;
  const std::string conf = absl::StrFormat(
      "server:\n"
      "  ip-address: 127.0.0.1@%d\n"
      "  port: %d\n"
      "  username: \"\"\n"
      "  database: \"\"\n"
      "  zonesdir: \"%s\"\n"
      "  pidfile: \"%s/nsd.pid\"\n"
      "  xfrdfile: \"%s/xfrd.state\"\n"
      "  zonelistfile: \"%s/zone.list\"\n"
      "  logfile: \"%s/nsd.log\"\n"
      "  server-count: 1\n"
      "  rrl-ratelimit: 0\n"
      "  ipv4-edns-size: 16384\n"
      "  nsid: \"ascii_%s\"\n"
      "  identity: \"%s\"\n"
      "  hide-identity: no\n"
      "  verbosity: 0\n"
      "remote-control:\n"
      "  control-enable: no\n"
      "zone:\n"
      "  name: \"example.test\"\n"
      "  zonefile: \"example.test.zone\"\n",
      *port, *port, d, d, d, d, d, nsid, identity);
  if (auto st = WriteFile(d + "/nsd.conf", conf); !st.ok()) return st;
  if (auto st = p->Launch({"/usr/sbin/nsd", "-d", "-c", d + "/nsd.conf"}, "www.example.test");
      !st.ok()) {
    return st;
  }
  return p;
}

absl::StatusOr<std::unique_ptr<DnsServerProcess>> DnsServerProcess::StartUnbound(
    const Endpoint& nsd, const std::string& nsid, const std::string& identity) {
  std::unique_ptr<DnsServerProcess> p(new DnsServerProcess());
  auto dir = MakeTempDir("vtt-unbound-");
  if (!dir.ok()) return dir.status();
  p->directory_ = *dir;
  auto port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  p->endpoint_ = Endpoint(IpAddress::V4(0x7f000001), *port);
  const std::string& d = p->directory_;
  const std::string upstream = absl::StrCat(nsd.address().ToString(), "@", nsd.port());
  const std::string conf = absl::StrFormat(
      "server:\n"
      "  interface: 127.0.0.1@%d\n"
      "  port: %d\n"
      "  do-daemonize: no\n"
      "  username: \"\"\n"
      "  chroot: \"\"\n"
      "  directory: \"%s\"\n"
      "  pidfile: \"%s/unbound.pid\"\n"
      "  use-syslog: no\n"
      "  logfile: \"\"\n"
      "  verbosity: 0\n"
      "  num-threads: 1\n"
      "  module-config: \"iterator\"\n"
      "  do-not-query-localhost: no\n"
      "  do-ip6: no\n"
      "  access-control: 127.0.0.0/8 allow\n"
      "  local-zone: \"test.\" nodefault\n"
      "  nsid: \"ascii_%s\"\n"
      "  identity: \"%s\"\n"
      "  hide-identity: no\n"
      "forward-zone:\n"
      "  name: \"example.test\"\n"
      "  forward-addr: %s\n"
      "forward-zone:\n"
      "  name: \"servfail.test\"\n"
      "  forward-addr: %s\n"
      "remote-control:\n"
      "  control-enable: no\n",
      *port, *port, d, d, nsid, identity, upstream, upstream);
  if (auto st = WriteFile(d + "/unbound.conf", conf); !st.ok()) return st;
  if (auto st =
          p->Launch({"/usr/sbin/unbound", "-d", "-c", d + "/unbound.conf"}, "www.example.test");
      !st.ok()) {
    return st;
  }
  return p;
}

}  // namespace vantage::testing
