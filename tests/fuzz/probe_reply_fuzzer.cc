// The active prober's reply parser and matcher: every captured packet is
// untrusted. Input byte 0 picks the link layer (raw IP, Ethernet, Linux SLL)
// or a template mode in which a genuine probe, reply or ICMP error is built
// (so the fuzzer starts from packets that pass the MAC) and then mutated by
// (offset, xor) pairs from the rest of the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/clock.h"
#include "core/event_loop.h"
#include "probe/active_prober.h"
#include "probe/ip_packet_view.h"
#include "tests/probe/active_probe_fakes.h"

namespace {

using vantage::IpAddress;
using vantage::probe::ActiveProber;
using vantage::probe::ProbeMethodSpec;

struct World {
  vantage::FakeClock clock;
  vantage::probe::testing::FakeProbeSender sender;
  std::unique_ptr<vantage::EventLoop> loop;
  std::unique_ptr<ActiveProber> prober;
};

World& GetWorld() {
  static World* world = [] {
    auto* w = new World();
    w->loop = *vantage::EventLoop::Create();
    ActiveProber::Options o;
    o.flows = 2;
    o.burst = 2;
    o.random_phase = false;
    o.jitter = 0;
    o.seed = 1;
    o.local_clock_synchronized = true;
    w->prober = *ActiveProber::Create(o, w->loop.get(), &w->clock, &w->sender,
                                      vantage::probe::ProbeSecret::FromKey(1, 2));
    for (const char* a : {"198.18.0.2", "2001:db8::2"}) {
      for (const char* m : {"icmp", "tcp:80", "stamp"}) {
        if (!w->prober->AddTarget({*IpAddress::Parse(a), *ProbeMethodSpec::Parse(m)}).ok()) {
          std::abort();
        }
      }
    }
    w->prober->RunDue();  // one round in flight: 12 probes
    return w;
  }();
  return *world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  World& w = GetWorld();
  std::vector<uint8_t> bytes;
  int link = 12;
  const uint8_t mode = data[0] & 3;
  if (mode == 3) {
    if (size < 3) return 0;
    // Only the 12 probes (later entries are RSTs answering SYN-ACKs).
    const auto& probe = w.sender.sent[data[1] % 12];
    const IpAddress router = probe.destination.is_v4() ? *IpAddress::Parse("198.18.9.9")
                                                       : *IpAddress::Parse("2001:db8::9");
    switch (data[2] % 4) {
      case 0:
        bytes = vantage::probe::testing::RequestPacket(probe);
        break;
      case 1:
        bytes = vantage::probe::testing::ReplyPacket(probe);
        break;
      case 2:
        bytes = vantage::probe::testing::ReplyPacket(probe, true);
        break;
      default:
        bytes = vantage::probe::testing::IcmpErrorPacket(
            probe, router, probe.destination.is_v4() ? 3 : 1, data[2] >> 2);
        break;
    }
    for (size_t i = 3; i + 1 < size; i += 2) {
      if (bytes.empty()) break;
      bytes[data[i] % bytes.size()] ^= data[i + 1];
    }
    if (size % 2 == 0 && bytes.size() > 1)
      bytes.resize(bytes.size() - data[size - 1] % bytes.size());
  } else {
    link = mode == 0 ? 12 : (mode == 1 ? 1 : 113);
    bytes.assign(data + 1, data + size);
  }
  vantage::probe::CapturedPacket packet;
  packet.time_ns = absl::ToUnixNanos(w.clock.Now());
  packet.bytes = bytes;
  packet.wire_length = static_cast<uint32_t>(bytes.size());
  packet.link_type = link;
  const uint64_t before = w.prober->counters().captured;
  if (auto view = vantage::probe::IpPacketFromCapture(packet)) {
    w.prober->OnIpPacket(packet.timestamp(), *view);
    if (w.prober->counters().captured != before + 1) std::abort();
  }
  if (auto view = vantage::probe::ParseIpPacket(bytes)) {
    (void)w.prober->codec().Classify(*view);
  }
  // The clock never moves, so no probe may ever be forgotten, whatever arrives.
  if (w.prober->in_flight() != 12) std::abort();
  return 0;
}
