// `vantagectl pcap-rtt` end to end on a hand-built capture with known RTTs:
// table and JSON carry the same figures; --prefix-len, --local and
// --per-sample behave as documented.
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "probe/packet_decoder.h"
#include "tests/probe/packet_builder.h"

namespace vantage::probe {
namespace {

using testing::PacketBuilder;
using testing::TcpSpec;

std::string PcapRtt(const std::string& args) {
  std::string out;
  FILE* pipe = popen((std::string(VANTAGECTL_PATH) + " pcap-rtt " + args + " 2>&1").c_str(), "r");
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

class PcapRttCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp", "/vt_", getpid(),
                         "_pcaprtt.pcap");
    pcap_t* dead =
        pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 128, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path_.c_str());
    ASSERT_NE(dumper, nullptr);
    // Three clients: two in 198.18.7.0/24 (10 ms and 30 ms away), one in
    // 2001:db8:5::/48 (20 ms). The server answers SYNs after 100 us.
    struct Client {
      const char* address;
      const char* server;
      int64_t rtt_us;
      uint16_t port;
    };
    const Client clients[] = {{"198.18.7.9", "198.19.0.1", 10000, 40001},
                              {"198.18.7.77", "198.19.0.1", 30000, 40002},
                              {"2001:db8:5:1::9", "2001:db8::1", 20000, 40003}};
    int64_t t = 1700000000000000000;
    for (const Client& c : clients) {
      const IpAddress client = IpAddress::Parse(c.address).value();
      const IpAddress server = IpAddress::Parse(c.server).value();
      auto dump = [&](const std::vector<uint8_t>& bytes, int64_t at) {
        pcap_pkthdr h{};
        h.ts.tv_sec = at / 1000000000;
        h.ts.tv_usec = at % 1000000000;
        h.caplen = h.len = static_cast<bpf_u_int32>(bytes.size());
        pcap_dump(reinterpret_cast<u_char*>(dumper), &h, bytes.data());
      };
      auto seg = [&](bool up, uint8_t flags, uint32_t seq, uint32_t ack) {
        TcpSpec s;
        s.src_port = up ? c.port : 443;
        s.dst_port = up ? 443 : c.port;
        s.flags = flags;
        s.seq = seq;
        s.ack = ack;
        return (up ? PacketBuilder(client, server) : PacketBuilder(server, client)).Tcp(s);
      };
      dump(seg(true, kTcpSyn, 10, 0), t);
      dump(seg(false, kTcpSyn | kTcpAck, 50, 11), t + 100000);
      dump(seg(true, kTcpAck, 11, 51), t + 100000 + c.rtt_us * 1000);
      t += 1000000000;
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
  }
  void TearDown() override { unlink(path_.c_str()); }
  std::string path_;
};

TEST_F(PcapRttCommandTest, JsonCarriesPerPrefixQuantiles) {
  const std::string out = PcapRtt(path_ + " --json");
  const auto json = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << out;
  ASSERT_EQ(json["prefixes"].size(), 2u);
  const auto& v4 = json["prefixes"][0];
  EXPECT_EQ(v4["prefix"], "198.18.7.0/24");
  EXPECT_EQ(v4["flows"], 2);
  EXPECT_EQ(v4["packets"], 6);
  bool saw_client_leg = false;
  for (const auto& row : v4["rtt"]) {
    if (row["method"] == "handshake" && row["leg"] == "client") {
      saw_client_leg = true;
      EXPECT_EQ(row["samples"], 2);
      EXPECT_DOUBLE_EQ(row["min_us"].get<double>(), 10000);
      EXPECT_NEAR(row["p50_us"].get<double>(), 10000, 100);  // sketch: 1% relative
      // Lower-rank convention (rank floor(q * (n - 1))): with two samples
      // every quantile below 1 is the smaller one.
      EXPECT_NEAR(row["p99_us"].get<double>(), 10000, 100);
      EXPECT_DOUBLE_EQ(row["max_us"].get<double>(), 30000);
    }
    if (row["method"] == "handshake" && row["leg"] == "server") {
      EXPECT_DOUBLE_EQ(row["min_us"].get<double>(), 100);
    }
  }
  EXPECT_TRUE(saw_client_leg);
  EXPECT_EQ(json["prefixes"][1]["prefix"], "2001:db8:5::/48");
  EXPECT_EQ(json["stats"]["samples_handshake"], 6);
  EXPECT_FALSE(json.contains("samples"));  // only with --per-sample
}

TEST_F(PcapRttCommandTest, TableAndOptions) {
  const std::string table = PcapRtt(path_);
  EXPECT_NE(table.find("198.18.7.0/24"), std::string::npos) << table;
  EXPECT_NE(table.find("2001:db8:5::/48"), std::string::npos);
  EXPECT_NE(table.find("10000.0"), std::string::npos);  // the min of the /24
  EXPECT_EQ(table.find("198.18.7.9"), std::string::npos);

  const std::string wide = PcapRtt(path_ + " --prefix-len 16/32");
  EXPECT_NE(wide.find("198.18.0.0/16"), std::string::npos) << wide;
  EXPECT_NE(wide.find("2001:db8::/32"), std::string::npos);

  // Declaring the clients' side as ours flips which end is the client.
  const std::string flipped = PcapRtt(path_ + " --json --local 198.18.0.0/16 2001:db8:5::/48");
  const auto json = nlohmann::json::parse(flipped, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << flipped;
  EXPECT_EQ(json["prefixes"][0]["prefix"], "198.19.0.0/24");

  const std::string samples = PcapRtt(path_ + " --per-sample");
  EXPECT_NE(samples.find("198.18.7.77"), std::string::npos);  // on-box debugging only
  EXPECT_NE(PcapRtt(path_ + " --prefix-len 40").find("--prefix-len"), std::string::npos);
  EXPECT_NE(PcapRtt("/nonexistent.pcap").find("/nonexistent.pcap"), std::string::npos);
}

}  // namespace
}  // namespace vantage::probe
