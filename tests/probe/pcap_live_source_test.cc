// Integration: captures real TCP traffic this test generates on loopback.
// Needs CAP_NET_RAW (CI runs as root); skipped otherwise.
#include "probe/pcap_live_source.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/event_loop.h"
#include "probe/packet_decoder.h"

namespace vantage::probe {
namespace {

bool HaveCapNetRaw() {
  PcapLiveOptions options;
  options.interface = "lo";
  return PcapLiveSource::Open(options).ok();
}

int ListenOnLoopback(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  if (listen(fd, 8) != 0) return -1;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

TEST(PcapLiveSourceTest, CapturesLoopbackHandshakeWithKernelTimestamps) {
  if (!HaveCapNetRaw()) GTEST_SKIP() << "needs CAP_NET_RAW";
  uint16_t port = 0;
  int listener = ListenOnLoopback(&port);
  ASSERT_GE(listener, 0);

  PcapLiveOptions options;
  options.interface = "lo";
  options.bpf_filter = absl::StrCat("tcp port ", port);
  auto source = PcapLiveSource::Open(options);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_GE((*source)->selectable_fd(), 0);
  EXPECT_EQ((*source)->snaplen(), 128);
  EXPECT_EQ((*source)->link_type(), 1);  // lo is Ethernet-framed on Linux

  const absl::Time before = absl::Now();
  int client = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  int server = accept(listener, nullptr, nullptr);
  ASSERT_GE(server, 0);
  const std::string message(1000, 'z');
  ASSERT_EQ(write(client, message.data(), message.size()), 1000);
  close(client);
  close(server);
  close(listener);

  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  std::vector<absl::Time> syn, synack;
  std::vector<DecodedPacket> packets;
  size_t max_captured = 0;
  int other_port_packets = 0;
  ASSERT_TRUE((*loop)
                  ->WatchFd((*source)->selectable_fd(), EPOLLIN,
                            [&](uint32_t) {
                              auto n = (*source)->Dispatch(0, [&](const CapturedPacket& p) {
                                max_captured = std::max(max_captured, p.bytes.size());
                                DecodedPacket d;
                                if (PacketDecoder::Decode(p.link_type, p.bytes, &d,
                                                          p.wire_length) != DecodeStatus::kOk) {
                                  return;
                                }
                                if (d.src_port != port && d.dst_port != port) ++other_port_packets;
                                if (d.tcp.flags == kTcpSyn) syn.push_back(p.timestamp());
                                if (d.tcp.flags == (kTcpSyn | kTcpAck)) {
                                  synack.push_back(p.timestamp());
                                }
                                packets.push_back(d);
                              });
                              ASSERT_TRUE(n.ok()) << n.status();
                            })
                  .ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline && packets.size() < 7) (*loop)->RunOnce(absl::Milliseconds(50));

  ASSERT_EQ(syn.size(), 1u);
  ASSERT_EQ(synack.size(), 1u);
  EXPECT_LT(syn[0], synack[0]);
  EXPECT_GE(syn[0], before - absl::Milliseconds(1));
  EXPECT_LT(synack[0] - syn[0], absl::Milliseconds(100));
  EXPECT_EQ(other_port_packets, 0);  // the BPF filter applied
  EXPECT_LE(max_captured, 128u);     // snaplen enforced on the 1000-byte segment
  bool saw_data = false;
  for (const auto& d : packets) saw_data |= d.payload_length == 1000;
  EXPECT_TRUE(saw_data);
  const CaptureStats stats = (*source)->Stats();
  EXPECT_EQ(stats.received, packets.size());
  EXPECT_EQ(stats.kernel_dropped, 0u);
  (*loop)->UnwatchFd((*source)->selectable_fd());
}

TEST(PcapLiveSourceTest, ClearErrors) {
  PcapLiveOptions options;
  options.interface = "vt-no-such-if0";
  auto missing = PcapLiveSource::Open(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("vt-no-such-if0"), std::string::npos);

  options.interface = "lo";
  options.snaplen = 10;
  EXPECT_EQ(PcapLiveSource::Open(options).status().code(), absl::StatusCode::kInvalidArgument);

  if (!HaveCapNetRaw()) GTEST_SKIP() << "needs CAP_NET_RAW for the remaining checks";
  options.snaplen = 128;
  options.bpf_filter = "tcp port";
  EXPECT_EQ(PcapLiveSource::Open(options).status().code(), absl::StatusCode::kInvalidArgument);

  // Without privileges: a child drops to nobody and must get PermissionDenied
  // mentioning CAP_NET_RAW.
  options.bpf_filter.clear();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    auto status = PcapLiveSource::Open(options).status();
    const bool ok = status.code() == absl::StatusCode::kPermissionDenied &&
                    status.message().find("CAP_NET_RAW") != std::string::npos;
    _exit(ok ? 0 : 1);
  }
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);
}

}  // namespace
}  // namespace vantage::probe
