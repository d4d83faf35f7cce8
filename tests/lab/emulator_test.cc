#include "lab/emulator.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "lab/control_socket.h"
#include "tests/lab/test_packets.h"

namespace vantage::lab {
namespace {

using testing::Ip;
using testing::MakePacket;

constexpr char kTopology[] = R"(pops:
  - {name: a, addresses: [198.18.1.1], services: [198.19.0.53]}
  - {name: b, addresses: [198.18.1.2], services: [198.19.0.53]}
regions:
  - {name: r, addresses: [198.18.2.1], catchment: a}
links:
  - {pop: a, region: r, delay_ms: 20}
  - {pop: b, region: r, delay_ms: 5}
)";

// A socketpair "device" whose node's kernel takes kReceiveLatency to
// receive what the emulator writes (ReceivedAt), like a TUN device's
// write() -> kernel receive path, only slower.
constexpr absl::Duration kReceiveLatency = absl::Microseconds(30);
class SlowReceivingDevice : public FdPacketDevice {
 public:
  using FdPacketDevice::FdPacketDevice;
  std::optional<absl::Time> ReceivedAt(const uint8_t*, size_t, absl::Time now) override {
    return now + kReceiveLatency;
  }
};

// Runs an Emulator on its own loop thread over socketpair "devices"; the
// test holds the other end of each (node i's end is peer_[i]).
class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topology_ = *ParseTopology(kTopology, "t");
    loop_ = *EventLoop::Create();
    std::vector<std::unique_ptr<PacketDevice>> devices;
    for (int i = 0; i < 4; ++i) {  // a, b, r, router
      int fds[2];
      ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
      devices.push_back(std::make_unique<SlowReceivingDevice>(fds[0]));
      peer_.push_back(fds[1]);
    }
    emulator_ = std::make_unique<Emulator>(loop_.get(), topology_, std::move(devices), 7);
    ASSERT_TRUE(emulator_->Start().ok());
    socket_path_ = std::filesystem::temp_directory_path().string() + "/vantage-emulator-test-" +
                   std::to_string(getpid()) + ".sock";
    control_ = *ControlServer::Create(loop_.get(), socket_path_, [this](const std::string& req) {
      return emulator_->HandleControl(req);
    });
    thread_ = std::thread([this] { loop_->Run(); });
  }

  void TearDown() override {
    loop_->Stop();
    thread_.join();
    control_.reset();
    emulator_.reset();
    for (int fd : peer_) close(fd);
  }

  void Send(int node, const std::vector<uint8_t>& packet) {
    ASSERT_EQ(write(peer_[node], packet.data(), packet.size()),
              static_cast<ssize_t>(packet.size()));
  }

  // Waits up to `timeout` for a packet at node's end; returns its tag byte
  // or -1.
  int Receive(int node, absl::Duration timeout) {
    pollfd p{peer_[node], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) != 1) return -1;
    uint8_t buf[2048];
    const ssize_t n = read(peer_[node], buf, sizeof(buf));
    return n > 0 ? buf[n - 1] : -1;
  }

  nlohmann::json Control(const nlohmann::json& request) {
    absl::StatusOr<std::string> answer =
        SendControlRequest(socket_path_, request.dump(), absl::Seconds(5));
    EXPECT_TRUE(answer.ok()) << answer.status();
    return nlohmann::json::parse(answer.ok() ? *answer : "{}");
  }

  Topology topology_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<ControlServer> control_;
  std::string socket_path_;
  std::vector<int> peer_;
  std::thread thread_;
};

TEST_F(EmulatorTest, DeliversAfterTheLinkDelayNotBefore) {
  const absl::Time start = RealClock::Get().MonotonicNow();
  Send(2, MakePacket(Ip("198.18.2.1"), Ip("198.18.1.1"), 9));
  EXPECT_EQ(Receive(0, absl::Milliseconds(15)), -1);  // not yet: 20 ms
  EXPECT_EQ(Receive(0, absl::Seconds(2)), 9);
  const absl::Duration took = RealClock::Get().MonotonicNow() - start;
  EXPECT_GE(took, absl::Milliseconds(20));
  EXPECT_LT(took, absl::Milliseconds(200));  // generous: a loaded CI machine
}

TEST_F(EmulatorTest, AnycastFollowsSetCatchmentOverTheControlSocket) {
  Send(2, MakePacket(Ip("198.18.2.1"), Ip("198.19.0.53"), 1));
  EXPECT_EQ(Receive(0, absl::Seconds(2)), 1);
  nlohmann::json ok = Control({{"command", "set-catchment"}, {"region", "r"}, {"pop", "b"}});
  EXPECT_EQ(ok["ok"], true) << ok.dump();
  Send(2, MakePacket(Ip("198.18.2.1"), Ip("198.19.0.53"), 2));
  EXPECT_EQ(Receive(1, absl::Seconds(2)), 2);
  nlohmann::json status = Control({{"command", "status"}});
  EXPECT_EQ(status["catchments"]["r"], "b");
  EXPECT_EQ(status["packets_read"], 2);
  EXPECT_EQ(status["packets_written"], 2);
}

TEST_F(EmulatorTest, SetLinkLossDropsEverythingAndCounts) {
  nlohmann::json ok = Control({{"command", "set-link"},
                               {"pop", "b"},
                               {"region", "r"},
                               {"direction", "to_pop"},
                               {"loss", 1.0}});
  ASSERT_EQ(ok["ok"], true) << ok.dump();
  for (int i = 0; i < 5; ++i) Send(2, MakePacket(Ip("198.18.2.1"), Ip("198.18.1.2")));
  // The other direction is untouched.
  Send(1, MakePacket(Ip("198.18.1.2"), Ip("198.18.2.1"), 4));
  EXPECT_EQ(Receive(2, absl::Seconds(2)), 4);
  EXPECT_EQ(Receive(1, absl::Milliseconds(50)), -1);
  nlohmann::json status = Control({{"command", "status"}});
  bool found = false;
  for (const auto& l : status["links"]) {
    if (l["from"] == "r" && l["to"] == "b") {
      found = true;
      EXPECT_EQ(l["lost"], 5);
      EXPECT_EQ(l["params"]["loss"], 1.0);
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(EmulatorTest, BadRequestsGetErrors) {
  EXPECT_EQ(Control({{"command", "fly"}})["ok"], false);
  EXPECT_EQ(Control({{"command", "set-link"}, {"pop", "a"}, {"region", "nowhere"}})["ok"], false);
  EXPECT_EQ(Control({{"nothing", 1}})["ok"], false);
  EXPECT_EQ(nlohmann::json::parse(emulator_->HandleControl("not json"))["ok"], false);
}

// The emulator learns the receiving node's write -> receive latency and
// writes that much early, so the residual (receive time minus departure)
// centres on zero instead of on kReceiveLatency.
TEST_F(EmulatorTest, WritesEarlyByTheReceiveLatencySoTheResidualMedianIsZero) {
  constexpr int kPackets = 150;
  int received = 0;
  for (int i = 0; i < kPackets; ++i) {
    Send(2, MakePacket(Ip("198.18.2.1"), Ip("198.18.1.2"), static_cast<uint8_t>(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    while (Receive(1, absl::ZeroDuration()) >= 0) ++received;
  }
  for (int i = 0; i < 100 && received < kPackets; ++i) {
    if (Receive(1, absl::Milliseconds(100)) >= 0) ++received;
  }
  ASSERT_EQ(received, kPackets);
  const nlohmann::json status = Control({{"command", "status"}});
  const nlohmann::json& residual = status["residual_us"];
  std::cout << "residual: " << residual.dump()
            << "; write leads: " << status["write_lead_us"].dump() << "\n";
  EXPECT_EQ(residual["count"], kPackets);
  EXPECT_EQ(residual["unscheduled"], 0);
  EXPECT_LE(std::abs(residual["p50"].get<double>()), 5.0);
  // The first packets, before the lead was learnt, were late by all of it.
  EXPECT_GE(residual["p99"].get<double>(), absl::ToDoubleMicroseconds(kReceiveLatency) - 5);
  EXPECT_GE(status["write_lead_us"]["b"].get<double>(),
            absl::ToDoubleMicroseconds(kReceiveLatency));
  EXPECT_EQ(status["write_lead_us"]["a"].get<double>(), 0.0);  // it received nothing
  bool found = false;
  for (const auto& l : status["links"]) {
    if (l["from"] == "r" && l["to"] == "b") {
      found = true;
      EXPECT_EQ(l["residual_us"]["count"], kPackets);
      EXPECT_LE(std::abs(l["residual_us"]["p50"].get<double>()), 5.0);
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace vantage::lab
