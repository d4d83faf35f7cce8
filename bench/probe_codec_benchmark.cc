// Per-packet cost of building a probe and classifying a reply (the CPU the
// prober spends per probe besides the kernel).
#include <benchmark/benchmark.h>

#include "probe/probe_codec.h"

namespace vantage::probe {
namespace {

void BM_BuildAndClassifyIcmpReply(benchmark::State& state) {
  ProbeCodec codec(ProbeSecret::FromKey(1, 2), 1, 62000, {});
  const IpAddress target = *IpAddress::Parse("198.18.0.2");
  const IpAddress us = *IpAddress::Parse("198.18.0.1");
  (void)*codec.AddTarget({target, {}});
  ProbePacket p;
  uint32_t seq = 0;
  for (auto _ : state) {
    codec.BuildProbe(0, 0, seq++, us, absl::UnixEpoch(), 0, &p);
    p.bytes[0] = 0;  // echo reply
    IpPacketView view{target, us, 1, 64, p.span()};
    benchmark::DoNotOptimize(codec.Classify(view));
  }
}
BENCHMARK(BM_BuildAndClassifyIcmpReply);

}  // namespace
}  // namespace vantage::probe

BENCHMARK_MAIN();
