#include "probe/pcap_file_source.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "probe/packet_decoder.h"
#include "tests/probe/packet_builder.h"

namespace vantage::probe {
namespace {

using testing::PacketBuilder;
using testing::TcpSpec;

IpAddress Ip(const char* text) { return IpAddress::Parse(text).value(); }

std::string TempPath(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/vt_", getpid(), "_", name);
}

// Writes `packets` with nanosecond timestamps `base_ns + i * 1001` ns and a
// snaplen of 128 (longer packets are cut, keeping their wire length).
void WriteNanoPcap(const std::string& path, int link_type,
                   const std::vector<std::vector<uint8_t>>& packets, int64_t base_ns) {
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(link_type, 128, PCAP_TSTAMP_PRECISION_NANO);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
  for (size_t i = 0; i < packets.size(); ++i) {
    const int64_t ns = base_ns + static_cast<int64_t>(i) * 1001;
    pcap_pkthdr header{};
    header.ts.tv_sec = ns / 1000000000;
    header.ts.tv_usec = ns % 1000000000;  // nanoseconds in a nano-precision dump
    header.len = static_cast<bpf_u_int32>(packets[i].size());
    header.caplen = std::min<bpf_u_int32>(header.len, 128);
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, packets[i].data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
}

std::vector<std::vector<uint8_t>> SamplePackets() {
  PacketBuilder b(Ip("198.18.0.1"), Ip("198.19.0.2"));
  std::vector<std::vector<uint8_t>> packets;
  for (uint32_t i = 0; i < 5; ++i) {
    TcpSpec spec;
    spec.seq = i * 1000;
    spec.flags = kTcpAck;
    spec.payload = std::string(static_cast<size_t>(i) * 100, 'p');
    packets.push_back(b.Tcp(spec));
  }
  packets.push_back(b.Udp(1000, 53, "q"));
  return packets;
}

TEST(PcapFileSourceTest, ReadsNanosecondTimestampsAndWireLengths) {
  const std::string path = TempPath("nano.pcap");
  const auto packets = SamplePackets();
  const int64_t base_ns = 1700000000123456789;
  WriteNanoPcap(path, DLT_EN10MB, packets, base_ns);

  auto source = PcapFileSource::Open(path);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->link_type(), DLT_EN10MB);
  EXPECT_EQ((*source)->snaplen(), 128);
  EXPECT_EQ((*source)->selectable_fd(), -1);
  std::vector<int64_t> times;
  std::vector<uint32_t> seqs;
  size_t max_captured = 0;
  auto status = (*source)->Dispatch(0, [&](const CapturedPacket& packet) {
    times.push_back(packet.time_ns);
    max_captured = std::max(max_captured, packet.bytes.size());
    DecodedPacket d;
    ASSERT_EQ(PacketDecoder::Decode(packet.link_type, packet.bytes, &d, packet.wire_length),
              DecodeStatus::kOk);
    if (d.protocol == kIpProtoTcp) seqs.push_back(d.tcp.seq);
    EXPECT_EQ(packet.wire_length, packets[times.size() - 1].size());
  });
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 6);
  ASSERT_EQ(times.size(), 6u);
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_EQ(times[i], base_ns + static_cast<int64_t>(i) * 1001);
  }
  EXPECT_EQ(seqs, (std::vector<uint32_t>{0, 1000, 2000, 3000, 4000}));
  EXPECT_EQ(max_captured, 128u);
  EXPECT_EQ((*source)->Stats().received, 6u);
  // End of file.
  auto again = (*source)->Dispatch(0, [](const CapturedPacket&) { FAIL(); });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  unlink(path.c_str());
}

TEST(PcapFileSourceTest, DispatchHonoursMaxPacketsAndFilter) {
  const std::string path = TempPath("filter.pcap");
  WriteNanoPcap(path, DLT_EN10MB, SamplePackets(), 1000000000);
  auto source = PcapFileSource::Open(path);
  ASSERT_TRUE(source.ok());
  int seen = 0;
  auto n = (*source)->Dispatch(2, [&](const CapturedPacket&) { ++seen; });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(seen, 2);

  auto udp_only = PcapFileSource::Open(path, "udp");
  ASSERT_TRUE(udp_only.ok());
  n = (*udp_only)->Dispatch(0, [&](const CapturedPacket&) {});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);

  auto bad = PcapFileSource::Open(path, "tcp and and");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  unlink(path.c_str());
}

// DispatchPcap hands libpcap's own headers over: the same times (tv_usec in
// nanoseconds), lengths and bytes as Dispatch, honouring max_packets, and
// counted in Stats().received.
TEST(PcapFileSourceTest, DispatchPcapDeliversLibpcapHeadersAtNanosecondPrecision) {
  const std::string path = TempPath("raw.pcap");
  const auto packets = SamplePackets();
  const int64_t base_ns = 1700000000987654321;
  WriteNanoPcap(path, DLT_EN10MB, packets, base_ns);
  auto source = PcapFileSource::Open(path);
  ASSERT_TRUE(source.ok()) << source.status();
  struct Seen {
    std::vector<int64_t> times;
    std::vector<uint32_t> wire;
    std::vector<std::vector<uint8_t>> bytes;
  } seen;
  auto handler = [](unsigned char* user, const pcap_pkthdr* h, const unsigned char* b) {
    auto* s = reinterpret_cast<Seen*>(user);
    s->times.push_back(static_cast<int64_t>(h->ts.tv_sec) * 1000000000 + h->ts.tv_usec);
    s->wire.push_back(h->len);
    s->bytes.emplace_back(b, b + h->caplen);
  };
  auto n = (*source)->DispatchPcap(4, handler, reinterpret_cast<unsigned char*>(&seen));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 4);
  n = (*source)->DispatchPcap(0, handler, reinterpret_cast<unsigned char*>(&seen));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2);
  n = (*source)->DispatchPcap(0, handler, reinterpret_cast<unsigned char*>(&seen));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);  // end of file
  ASSERT_EQ(seen.times.size(), packets.size());
  for (size_t i = 0; i < packets.size(); ++i) {
    EXPECT_EQ(seen.times[i], base_ns + static_cast<int64_t>(i) * 1001);
    EXPECT_EQ(seen.wire[i], packets[i].size());
    const size_t captured = std::min<size_t>(packets[i].size(), 128);
    EXPECT_EQ(
        seen.bytes[i],
        std::vector<uint8_t>(packets[i].begin(), packets[i].begin() + static_cast<long>(captured)));
  }
  EXPECT_EQ((*source)->Stats().received, packets.size());
  unlink(path.c_str());
}

TEST(PcapFileSourceTest, ReadsPcapng) {
  const std::string path = TempPath("in.pcap");
  const std::string ng = TempPath("out.pcapng");
  WriteNanoPcap(path, DLT_EN10MB, SamplePackets(), 1700000000000000007);
  const std::string command = absl::StrCat("editcap -F pcapng ", path, " ", ng);
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "editcap (wireshark-common) missing";
  auto source = PcapFileSource::Open(ng);
  ASSERT_TRUE(source.ok()) << source.status();
  std::vector<int64_t> times;
  auto n = (*source)->Dispatch(0, [&](const CapturedPacket& p) { times.push_back(p.time_ns); });
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(times.size(), 6u);
  EXPECT_EQ(times[0], 1700000000000000007);
  EXPECT_EQ(times[5], int64_t{1700000000000000007} + int64_t{5} * 1001);
  unlink(path.c_str());
  unlink(ng.c_str());
}

TEST(PcapFileSourceTest, MissingOrGarbageFileIsAnError) {
  auto missing = PcapFileSource::Open("/nonexistent/vt.pcap");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/vt.pcap"), std::string::npos);
  const std::string path = TempPath("garbage.pcap");
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("this is not a capture file at all", f);
  std::fclose(f);
  EXPECT_FALSE(PcapFileSource::Open(path).ok());
  unlink(path.c_str());
}

}  // namespace
}  // namespace vantage::probe
