#include "lab/emulator_daemon.h"

#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "core/event_loop.h"
#include "core/status_macros.h"
#include "lab/control_socket.h"
#include "lab/emulator.h"
#include "lab/routing_table.h"
#include "lab/tun_device.h"

namespace vantage::lab {
namespace {

absl::Status RunIp(CommandRunner* runner, const std::vector<std::string>& argv) {
  VANTAGE_ASSIGN_OR_RETURN(CommandResult r, runner->Run(argv, absl::Seconds(10)));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("'", JoinArgv(argv), "' failed: ", r.output));
  }
  return absl::OkStatus();
}

std::string HostPrefix(const IpAddress& a) {
  return absl::StrCat(a.ToString(), a.is_v4() ? "/32" : "/128");
}

// Addresses and routes inside one node's namespace: unicast addresses on the
// TUN device, anycast service addresses on lo (as on a real anycast host),
// and default routes (IPv4 and IPv6) through the TUN device.
absl::Status ConfigureNamespace(CommandRunner* runner, const std::string& ns,
                                const std::string& dev, const LabNode& node) {
  VANTAGE_RETURN_IF_ERROR(RunIp(runner, {"ip", "-n", ns, "link", "set", "lo", "up"}));
  for (const IpAddress& a : node.addresses) {
    std::vector<std::string> argv = {"ip", "-n", ns, "addr", "add", HostPrefix(a), "dev", dev};
    if (a.is_v6()) argv.push_back("nodad");  // no 1-2 s of tentative address
    VANTAGE_RETURN_IF_ERROR(RunIp(runner, argv));
  }
  for (const IpAddress& a : node.services) {
    VANTAGE_RETURN_IF_ERROR(
        RunIp(runner, {"ip", "-n", ns, "addr", "add", HostPrefix(a), "dev", "lo"}));
  }
  VANTAGE_RETURN_IF_ERROR(RunIp(runner, {"ip", "-n", ns, "link", "set", dev, "up"}));
  VANTAGE_RETURN_IF_ERROR(
      RunIp(runner, {"ip", "-n", ns, "-4", "route", "add", "default", "dev", dev}));
  VANTAGE_RETURN_IF_ERROR(
      RunIp(runner, {"ip", "-n", ns, "-6", "route", "add", "default", "dev", dev}));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunEmulatorDaemon(const EmulatorDaemonOptions& options, CommandRunner* runner) {
  VANTAGE_ASSIGN_OR_RETURN(Topology topology, LoadTopology(options.topology_path));
  const RoutingTable nodes(topology);
  std::vector<std::unique_ptr<PacketDevice>> devices;
  for (const LabNode& node : nodes.nodes()) {
    const std::string ns = options.prefix + node.name;
    VANTAGE_ASSIGN_OR_RETURN(std::unique_ptr<PacketDevice> dev,
                             OpenTunInNamespace(ns, options.tun_name));
    devices.push_back(std::move(dev));
    VANTAGE_RETURN_IF_ERROR(ConfigureNamespace(runner, ns, options.tun_name, node));
  }

  // Timer slack would add up to 50 us to every departure.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (options.realtime) {
    sched_param param{};
    param.sched_priority = 10;
    if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) {
      std::cout << "vantage-lab emulator: no real-time priority (" << std::strerror(errno)
                << "); delays may stretch on a busy machine" << std::endl;
    }
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  const int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) return absl::InternalError(absl::StrCat("signalfd: ", std::strerror(errno)));

  VANTAGE_ASSIGN_OR_RETURN(std::unique_ptr<EventLoop> loop, EventLoop::Create());
  Emulator emulator(loop.get(), topology, std::move(devices), options.seed);
  VANTAGE_RETURN_IF_ERROR(emulator.Start());
  VANTAGE_ASSIGN_OR_RETURN(std::unique_ptr<ControlServer> control,
                           ControlServer::Create(loop.get(), options.run_dir + "/control.sock",
                                                 [&emulator](const std::string& req) {
                                                   return emulator.HandleControl(req);
                                                 }));
  EventLoop* raw_loop = loop.get();
  VANTAGE_RETURN_IF_ERROR(loop->WatchFd(signal_fd, EPOLLIN, [raw_loop, signal_fd](uint32_t) {
    signalfd_siginfo info{};
    [[maybe_unused]] ssize_t n = read(signal_fd, &info, sizeof(info));
    raw_loop->Stop();
  }));
  std::cout << "vantage-lab emulator: " << nodes.nodes().size() << " nodes, serving on "
            << options.run_dir << "/control.sock" << std::endl;
  loop->Run();
  loop->UnwatchFd(signal_fd);
  close(signal_fd);
  std::cout << "vantage-lab emulator: stopped; read " << emulator.counters().packets_read
            << " packets, wrote " << emulator.counters().packets_written << std::endl;
  return absl::OkStatus();
}

}  // namespace vantage::lab
