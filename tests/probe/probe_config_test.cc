#include "probe/probe_config.h"

#include <gtest/gtest.h>

#include <string>

namespace vantage::probe {
namespace {

constexpr char kGood[] = R"(identity:
  probe_id: probe-ams-1
  pop: ams
user: nobody
collector:
  target: 127.0.0.1:7443
  ca: /certs/ca.crt
  cert: /certs/probe-ams-1.crt
  key: /certs/probe-ams-1.key
  server_name: collector
spool: {dir: /tmp/spool, max_bytes: 1048576}
window: 2s
metrics_listen: 127.0.0.1:0
active:
  interval: 500ms
  count: 3
  flows: 2
  rate: 200
  timeout: 300ms
  interface: lo
  targets:
    - {address: 127.0.0.1, methods: [icmp, "tcp:22"]}
    - {address: "::1", methods: [stamp], interval: 2s}
passive:
  interface: lo
  local_prefixes: [198.18.0.0/15]
  local_ports: [443, 80]
  prefix_length_v4: 20
  prefix_length_v6: 40
dns:
  servers: ["127.0.0.1:5353", "::1"]
  names: [www.example.test]
  types: [A, AAAA]
  interval: 1s
  timeout: 500ms
  nsid: true
stamp_reflector: {enabled: true, address: 127.0.0.1, port: 8620}
)";

TEST(ProbeConfigTest, ParsesEveryOption) {
  auto c = ProbeConfig::Parse(kGood, "probe.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->probe_id, "probe-ams-1");
  EXPECT_EQ(c->pop, "ams");
  EXPECT_EQ(c->user, "nobody");
  EXPECT_EQ(c->collector.target, "127.0.0.1:7443");
  EXPECT_EQ(c->collector.key_file, "/certs/probe-ams-1.key");
  EXPECT_EQ(c->collector.server_name, "collector");
  EXPECT_EQ(c->spool_dir, "/tmp/spool");
  EXPECT_EQ(c->spool_max_bytes, 1048576u);
  EXPECT_EQ(c->window, absl::Seconds(2));
  EXPECT_EQ(c->active.interval, absl::Milliseconds(500));
  EXPECT_EQ(c->active.count, 3);
  EXPECT_EQ(c->active.flows, 2);
  EXPECT_EQ(c->active.rate, 200);
  EXPECT_EQ(c->active.timeout, absl::Milliseconds(300));
  ASSERT_EQ(c->active.targets.size(), 2u);
  EXPECT_EQ(c->active.targets[0].address.ToString(), "127.0.0.1");
  ASSERT_EQ(c->active.targets[0].methods.size(), 2u);
  EXPECT_EQ(c->active.targets[0].methods[1].method, ProbeMethod::kTcpSyn);
  EXPECT_EQ(c->active.targets[0].methods[1].port, 22);
  EXPECT_FALSE(c->active.targets[0].interval.has_value());
  EXPECT_EQ(c->active.targets[1].methods[0].method, ProbeMethod::kStamp);
  EXPECT_EQ(c->active.targets[1].interval, absl::Seconds(2));
  EXPECT_EQ(c->passive.interface, "lo");
  ASSERT_EQ(c->passive.local_prefixes.size(), 1u);
  EXPECT_EQ(c->passive.local_ports, (std::vector<uint16_t>{443, 80}));
  EXPECT_EQ(c->passive.prefix_length_v4, 20);
  EXPECT_EQ(c->passive.prefix_length_v6, 40);
  ASSERT_EQ(c->dns.servers.size(), 2u);
  EXPECT_EQ(c->dns.servers[0].port(), 5353);
  EXPECT_EQ(c->dns.servers[1].port(), 53);
  EXPECT_EQ(c->dns.types.size(), 2u);
  EXPECT_EQ(c->dns.interval, absl::Seconds(1));
  EXPECT_TRUE(c->stamp_reflector.enabled);
  EXPECT_EQ(c->stamp_reflector.port, 8620);
}

TEST(ProbeConfigTest, EmptyFileGivesLabDefaults) {
  auto c = ProbeConfig::Parse("", "empty.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->window, absl::Seconds(10));
  EXPECT_TRUE(c->active.targets.empty());
  EXPECT_TRUE(c->dns.servers.empty());
  EXPECT_TRUE(c->passive.interface.empty());
  EXPECT_TRUE(c->user.empty());
  EXPECT_FALSE(c->stamp_reflector.enabled);
  EXPECT_EQ(c->collector.target, "127.0.0.1:7443");
}

// The error for `yaml`, which must not parse.
std::string ErrorOf(const std::string& yaml) {
  auto c = ProbeConfig::Parse(yaml, "probe.yaml");
  EXPECT_FALSE(c.ok()) << yaml;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(ProbeConfigTest, UnknownKeysNameLineAndColumn) {
  EXPECT_EQ(ErrorOf("window: 2s\nbogus: 1\n").substr(0, 16), "probe.yaml:2:1: ");
  const std::string nested = ErrorOf("active:\n  interval: 1s\n  intervall: 2s\n");
  EXPECT_EQ(nested.substr(0, 16), "probe.yaml:3:3: ") << nested;
  EXPECT_NE(nested.find("intervall"), std::string::npos);
  const std::string in_target =
      ErrorOf("active:\n  targets:\n    - {address: 127.0.0.1, method: icmp}\n");
  EXPECT_EQ(in_target.substr(0, 17), "probe.yaml:3:28: ") << in_target;
}

TEST(ProbeConfigTest, BadValuesNameTheirPosition) {
  EXPECT_EQ(ErrorOf("window: 500ms\n").substr(0, 16), "probe.yaml:1:9: ");
  EXPECT_EQ(ErrorOf("window: soon\n").substr(0, 16), "probe.yaml:1:9: ");
  const std::string method =
      ErrorOf("active:\n  targets:\n    - address: 127.0.0.1\n      methods: [icmp, udp]\n");
  EXPECT_EQ(method.substr(0, 17), "probe.yaml:4:23: ") << method;
  const std::string address = ErrorOf("active:\n  targets:\n    - address: 127.0.0.300\n");
  EXPECT_EQ(address.substr(0, 17), "probe.yaml:3:16: ") << address;
  EXPECT_NE(ErrorOf("active: {count: 0}\n").find("probe.yaml:1:17"), std::string::npos);
  EXPECT_NE(ErrorOf("active: {flows: 99}\n").find("'flows' must be in"), std::string::npos);
  EXPECT_NE(ErrorOf("passive: {prefix_length_v4: 32}\n").find("prefix_length_v4"),
            std::string::npos);
  EXPECT_NE(ErrorOf("passive: {local_ports: [0]}\n").find("1..65535"), std::string::npos);
  EXPECT_NE(ErrorOf("collector: {target: nowhere}\n").find("address:port"), std::string::npos);
  EXPECT_NE(ErrorOf("dns: {servers: [127.0.0.1]}\n").find("no names"), std::string::npos);
  EXPECT_NE(ErrorOf("dns: {servers: [127.0.0.1], names: [a.test], types: [BOGUS]}\n")
                .find("probe.yaml:1:54"),
            std::string::npos);
  EXPECT_NE(ErrorOf("stamp_reflector: {enabled: maybe}\n").find("true or false"),
            std::string::npos);
  EXPECT_NE(ErrorOf("identity: [a, b]\n").find("expected a mapping"), std::string::npos);
  EXPECT_NE(ErrorOf("active: {targets: [{address: 127.0.0.1, methods: [icmp]}], "
                    "interval: 0s}\n")
                .find("interval"),
            std::string::npos);
}

TEST(ProbeConfigTest, ActiveSectionsCompareForReload) {
  auto a = ProbeConfig::Parse(kGood, "a.yaml");
  auto b = ProbeConfig::Parse(kGood, "b.yaml");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->active == b->active);
  b->active.targets[1].interval = absl::Seconds(3);
  EXPECT_FALSE(a->active == b->active);
}

TEST(ProbeConfigTest, TheExampleFileLoads) {
  auto c = ProbeConfig::Load(VANTAGE_SOURCE_DIR "/probe/examples/probe.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->probe_id, "probe-ams-1");
  EXPECT_EQ(c->active.targets.size(), 2u);
  EXPECT_EQ(c->dns.servers.size(), 1u);
}

TEST(ProbeConfigTest, MissingFileIsAnError) {
  EXPECT_FALSE(ProbeConfig::Load("/nonexistent/probe.yaml").ok());
}

}  // namespace
}  // namespace vantage::probe
