#include "push/exabgp_adapter.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_split.h"
#include "tests/push/test_states.h"

namespace vantage::push {
namespace {

using testing::TwoPops;

TEST(ExabgpCommandsTest, AnnouncesWithLinkBandwidthPerNeighbor) {
  auto cmds = ExabgpCommands(IntendedState{}, TwoPops(0.75, 0.25));
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0],
            "neighbor 198.18.1.1 announce route 198.18.100.0/24 next-hop 198.18.1.2 "
            "extended-community [ bandwidth:65001:750 ]");
  EXPECT_EQ(cmds[1],
            "neighbor 198.18.2.1 announce route 198.18.100.0/24 next-hop 198.18.2.2 "
            "extended-community [ bandwidth:65001:250 ]");
}

TEST(ExabgpCommandsTest, SendsOnlyChangesAndWithdrawsAtZero) {
  auto cmds = ExabgpCommands(TwoPops(0.75, 0.25), TwoPops(1, 0));
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0], "neighbor 198.18.2.1 withdraw route 198.18.100.0/24 next-hop 198.18.2.2");
  EXPECT_EQ(cmds[1],
            "neighbor 198.18.1.1 announce route 198.18.100.0/24 next-hop 198.18.1.2 "
            "extended-community [ bandwidth:65001:1000 ]");
  EXPECT_TRUE(ExabgpCommands(TwoPops(0.5, 0.5), TwoPops(0.5, 0.5)).empty());
  auto v6 = ExabgpCommands(IntendedState{}, TwoPops(1, 0, "2001:db8:100::/48"));
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0],
            "neighbor 198.18.1.1 announce route 2001:db8:100::/48 next-hop 2001:db8:1::2 "
            "extended-community [ bandwidth:65001:1000 ]");
}

// Connects like the relay does and reads what the adapter sends.
class FakeRelay {
 public:
  explicit FakeRelay(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~FakeRelay() { close(fd_); }
  bool ok() const { return ok_; }
  // Lines received within `ms` milliseconds, until `want` lines arrived.
  std::vector<std::string> Read(size_t want, int ms = 2000) {
    std::vector<std::string> lines;
    for (int i = 0; i < ms / 10 && lines.size() < want; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      pending_.append(buf, static_cast<size_t>(n));
      size_t pos;
      while ((pos = pending_.find('\n')) != std::string::npos) {
        lines.push_back(pending_.substr(0, pos));
        pending_.erase(0, pos + 1);
      }
    }
    return lines;
  }

 private:
  int fd_;
  bool ok_ = false;
  std::string pending_;
};

TEST(ExabgpAdapterTest, FailsWithoutRelayAndReplaysOnReconnect) {
  const std::string path = "/tmp/vt-push-exa-" + std::to_string(getpid()) + ".sock";
  auto adapter = ExabgpAdapter::Create(path);
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  EXPECT_EQ((*adapter)->Apply(TwoPops(0.75, 0.25)).code(), absl::StatusCode::kUnavailable);
  {
    FakeRelay relay(path);
    ASSERT_TRUE(relay.ok());
    ASSERT_TRUE((*adapter)->WaitConnected(absl::Seconds(2)));
    EXPECT_TRUE(relay.Read(1, 200).empty());  // nothing applied yet: no replay
    ASSERT_TRUE((*adapter)->Apply(TwoPops(0.75, 0.25)).ok());
    EXPECT_EQ(relay.Read(2).size(), 2u);
    ASSERT_TRUE((*adapter)->Apply(TwoPops(0.5, 0.5)).ok());
    auto lines = relay.Read(2);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("bandwidth:65001:500"), std::string::npos);
  }
  // The relay went away (ExaBGP restarted); a new one gets the full state.
  for (int i = 0; i < 100 && (*adapter)->connected(); ++i) usleep(10000);
  EXPECT_FALSE((*adapter)->connected());
  FakeRelay relay2(path);
  ASSERT_TRUE(relay2.ok());
  auto replay = relay2.Read(2);
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_NE(replay[0].find("announce route 198.18.100.0/24 next-hop 198.18.1.2"),
            std::string::npos);
  EXPECT_NE(replay[1].find("bandwidth:65001:500"), std::string::npos);
  EXPECT_EQ((*adapter)->connections(), 2u);
}

}  // namespace
}  // namespace vantage::push
