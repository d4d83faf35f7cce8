// The lab's data path without I/O: Forwarder::Ingress + DeliverDue per packet
// (routing, link model, delay heap). The figure with I/O and the peer
// (kernel loopback) comes from bench/lab_overhead.sh.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <vector>

#include "lab/forwarder.h"

namespace vantage::lab {
namespace {

constexpr char kTopology[] = R"(pops:
  - {name: a, addresses: [198.18.1.1], services: [198.19.0.53]}
regions:
  - {name: r, addresses: [198.18.2.1]}
links:
  - {pop: a, region: r, delay_ms: 10, jitter_ms: 1, loss: 0.01, queue_limit: 100000}
)";

std::vector<uint8_t> Packet() {
  std::vector<uint8_t> p(84, 0);
  p[0] = 0x45;
  const uint8_t src[] = {198, 18, 2, 1};
  const uint8_t dst[] = {198, 19, 0, 53};
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = src[i];
    p[16 + i] = dst[i];
  }
  return p;
}

// Packets in flight at once: `state.range(0)` (a 10 ms link at that rate).
void BM_ForwarderIngressDeliver(benchmark::State& state) {
  const Topology topology = *ParseTopology(kTopology, "bench");
  Forwarder forwarder(topology, 1);
  const std::vector<uint8_t> packet = Packet();
  const NodeId region = *forwarder.routing().FindNode("r");
  absl::Time now = absl::FromUnixSeconds(1000);
  const absl::Duration step = absl::Milliseconds(10) / state.range(0);
  size_t delivered = 0;
  for (auto _ : state) {
    forwarder.Ingress(region, packet, now);
    now += step;
    delivered +=
        forwarder.DeliverDue(now, [](NodeId, const std::vector<uint8_t>& p, const DepartureTimes&) {
          benchmark::DoNotOptimize(p.data());
        });
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["delivered"] = static_cast<double>(delivered);
}
BENCHMARK(BM_ForwarderIngressDeliver)->Arg(10)->Arg(1000)->Arg(10000);

}  // namespace
}  // namespace vantage::lab

BENCHMARK_MAIN();
