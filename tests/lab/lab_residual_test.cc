// Where the lab's links really end: brings a real lab up (LabFixture), runs
// iputils ping over a 1 ms round trip (r1 <-> p) and a 0 ms one (r0 <-> p)
// at once, and checks the emulator's own measurement of every delivered
// packet (vantage-lab status: residual_us = receiving kernel's receive time
// minus sending kernel's transmit time minus the configured delay, both
// stamped where libpcap stamps them on the nodes' TUN devices):
//  - on the 1 ms path the median residual of each direction and overall is
//    within a few microseconds of zero (the emulator writes each packet
//    early by the write -> kernel receive latency it measures);
//  - on the 0 ms path nothing arrives before it was sent (p1 >= 0) and those
//    packets are counted as unscheduled, outside the overall figure;
//  - PoP p's own echo turnaround is measured for every ping.
// Needs root and /dev/net/tun; skipped otherwise.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/lab/lab_fixture.h"

namespace vantage::lab {
namespace {

constexpr double kMaxMedianUs = 3.0;

class LabResidualTest : public test::LabFixture {
 protected:
  LabResidualTest() : LabFixture("r", {"ip", "nsd", "ping"}) {}
};

nlohmann::json LinkOf(const nlohmann::json& status, const std::string& from,
                      const std::string& to) {
  for (const nlohmann::json& l : status["emulator"]["links"]) {
    if (l["from"] == from && l["to"] == to) return l;
  }
  ADD_FAILURE() << "no link " << from << " -> " << to;
  return nlohmann::json::object();
}

TEST_F(LabResidualTest, MedianResidualIsZeroAndZeroDelayStaysNonNegative) {
  ASSERT_TRUE(
      Up("services: {dns_zone: lab.vantage.test, tcp_port: 80}\n"
         "pops:\n"
         "  - {name: p, addresses: [198.18.1.1], services: [198.19.0.53]}\n"
         "regions:\n"
         "  - {name: r0, addresses: [198.18.10.1], catchment: p}\n"
         "  - {name: r1, addresses: [198.18.11.1], catchment: p}\n"
         "links:\n"
         "  - {pop: p, region: r0, delay_ms: 0}\n"
         "  - {pop: p, region: r1, delay_ms: 0.5}\n"));
  WaitForPath("r0", "198.18.1.1");
  WaitForPath("r1", "198.18.1.1");

  // PoP p receives and sends 2 * kCount packets: more than a tap's ring
  // holds (TunTap::kFrames), so the rings wrap.
  constexpr int kCount = 1200;
  std::vector<pid_t> pings;
  for (const char* region : {"r0", "r1"}) {
    pings.push_back(SpawnInNs(
        region, {"ping", "-n", "-q", "-c", absl::StrCat(kCount), "-i", "0.002", "198.18.1.1"},
        absl::StrCat(work(), "/ping-", region, ".log")));
    ASSERT_GT(pings.back(), 0);
  }
  for (pid_t pid : pings) EXPECT_TRUE(WaitSpawned(pid, absl::Seconds(60)));

  const nlohmann::json status = LabStatus();
  ASSERT_TRUE(status.contains("emulator")) << status.dump();
  const nlohmann::json& emulator = status["emulator"];
  std::cout << "residual (us): " << emulator["residual_us"].dump()
            << "\nwrite leads (us): " << emulator["write_lead_us"].dump()
            << "\ndeparture lateness (us): " << emulator["departure_lateness_us"].dump()
            << "\nreceive timestamps: " << emulator["rx_timestamps"].dump()
            << "\nICMP echo turnaround (us): " << emulator["echo_turnaround_us"].dump() << "\n";
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"r1", "p"}, {"p", "r1"}}) {
    const nlohmann::json residual = LinkOf(status, from, to)["residual_us"];
    std::cout << from << " -> " << to << " (0.5 ms): " << residual.dump() << "\n";
    EXPECT_GE(residual.value("count", 0), kCount) << from << " -> " << to;
    ASSERT_TRUE(residual["p50"].is_number()) << residual.dump();
    EXPECT_LE(std::abs(residual["p50"].get<double>()), kMaxMedianUs) << from << " -> " << to;
  }
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"r0", "p"}, {"p", "r0"}}) {
    const nlohmann::json residual = LinkOf(status, from, to)["residual_us"];
    std::cout << from << " -> " << to << " (0 ms): " << residual.dump() << "\n";
    EXPECT_GE(residual.value("count", 0), kCount) << from << " -> " << to;
    ASSERT_TRUE(residual["p1"].is_number()) << residual.dump();
    EXPECT_GE(residual["p1"].get<double>(), 0.0) << from << " -> " << to;
  }
  const nlohmann::json& overall = emulator["residual_us"];
  EXPECT_GE(overall.value("count", 0), 2 * kCount);
  EXPECT_GE(overall.value("unscheduled", 0), 2 * kCount);
  ASSERT_TRUE(overall["p50"].is_number()) << overall.dump();
  EXPECT_LE(std::abs(overall["p50"].get<double>()), kMaxMedianUs);
  // PoP p answered every ping; its own time to do so is measured too.
  EXPECT_GE(emulator["echo_turnaround_us"]["p"].value("count", 0), 2 * kCount);
  const nlohmann::json& rx = emulator["rx_timestamps"];
  EXPECT_GT(rx.value("matched", 0), 4 * kCount);
  EXPECT_LE(rx.value("unmatched", 0) * 100, rx.value("matched", 0));

  DownAndCheckClean();
}

}  // namespace
}  // namespace vantage::lab
