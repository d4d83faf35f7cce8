// `vantagectl stamp-reflect`: an RFC 8762 STAMP session-reflector (also
// answers TWAMP-Light senders), for interop tests and for reflecting by hand.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/strings/str_format.h"
#include "core/event_loop.h"
#include "probe/stamp_reflector.h"
#include "tools/vantagectl/command.h"

namespace {

struct ReflectFlags {
  std::string address;
  int port = 862;
  double duration_s = 0;
  bool synchronized = false;
};

vantage::EventLoop* g_loop = nullptr;

void OnSignal(int) {
  if (g_loop != nullptr) g_loop->Stop();
}

void RunReflector(const ReflectFlags& flags) {
  auto loop = vantage::EventLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "vantagectl stamp-reflect: %s\n",
                 std::string(loop.status().message()).c_str());
    vantagectl::SetExitCode(1);
    return;
  }
  vantage::probe::StampReflector::Options options;
  options.port = static_cast<uint16_t>(flags.port);
  if (!flags.address.empty()) {
    auto ip = vantage::IpAddress::Parse(flags.address);
    if (!ip.ok()) {
      std::fprintf(stderr, "vantagectl stamp-reflect: %s\n",
                   std::string(ip.status().message()).c_str());
      vantagectl::SetExitCode(2);
      return;
    }
    options.address = *ip;
  }
  if (flags.synchronized) options.synchronized = true;
  auto reflector = vantage::probe::StampReflector::Create(options, loop->get());
  if (!reflector.ok()) {
    std::fprintf(stderr, "vantagectl stamp-reflect: %s\n",
                 std::string(reflector.status().message()).c_str());
    vantagectl::SetExitCode(1);
    return;
  }
  std::printf("reflecting on port %d\n", (*reflector)->port());
  std::fflush(stdout);
  g_loop = loop->get();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (flags.duration_s > 0) {
    (*loop)->AddTimerAfter(absl::Seconds(flags.duration_s), [l = loop->get()] { l->Stop(); });
  }
  (*loop)->Run();
  g_loop = nullptr;
  const auto& c = (*reflector)->counters();
  std::printf("reflected=%llu malformed=%llu send_errors=%llu\n",
              static_cast<unsigned long long>(c.reflected),
              static_cast<unsigned long long>(c.malformed),
              static_cast<unsigned long long>(c.send_errors));
  vantagectl::SetExitCode(0);
}

void SetupStampReflect(CLI::App& app) {
  auto flags = std::make_shared<ReflectFlags>();
  auto* cmd = app.add_subcommand("stamp-reflect", "Run a STAMP (RFC 8762) session-reflector");
  cmd->add_option("--address", flags->address, "Listen address (default: all, IPv4 and IPv6)");
  cmd->add_option("--port", flags->port, "UDP port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--duration", flags->duration_s,
                  "Seconds to run (default: until SIGINT/SIGTERM)");
  cmd->add_flag("--synchronized", flags->synchronized,
                "Declare this host's clock synchronised (S bit) even if the kernel does not know");
  cmd->callback([flags] { RunReflector(*flags); });
}

VANTAGECTL_COMMAND(SetupStampReflect);

}  // namespace
