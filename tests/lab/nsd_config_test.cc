#include "lab/nsd_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vantage::lab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(NsdConfigTest, AnycastAddressesNsidAndPrivateFiles) {
  Pop pop;
  pop.name = "ams";
  pop.addresses = {*IpAddress::Parse("198.18.1.1")};
  pop.services = {*IpAddress::Parse("198.19.0.53"), *IpAddress::Parse("2001:db8:53::53")};
  ServiceOptions services;
  const std::string conf = MakeNsdConfig(pop, services, "/run/x/nsd-ams");
  EXPECT_THAT(conf, HasSubstr("ip-address: 198.19.0.53\n"));
  EXPECT_THAT(conf, HasSubstr("ip-address: 2001:db8:53::53\n"));
  EXPECT_THAT(conf, Not(HasSubstr("198.18.1.1")));
  EXPECT_THAT(conf, HasSubstr("nsid: \"ascii_ams\""));
  EXPECT_THAT(conf, HasSubstr("username: \"\""));
  EXPECT_THAT(conf, HasSubstr("database: \"\""));
  EXPECT_THAT(conf, HasSubstr("rrl-ratelimit: 0"));
  EXPECT_THAT(conf, HasSubstr("pidfile: \"/run/x/nsd-ams/nsd.pid\""));
  EXPECT_THAT(conf, HasSubstr("xfrdfile: \"/run/x/nsd-ams/xfrd.state\""));
  EXPECT_THAT(conf, HasSubstr("zonelistfile: \"/run/x/nsd-ams/zone.list\""));
  const std::string zone = MakeNsdZone(pop, services);
  EXPECT_THAT(zone, HasSubstr("$ORIGIN lab.vantage.test.\n"));
  EXPECT_THAT(zone, HasSubstr("ns IN AAAA 2001:db8:53::53\n"));
  EXPECT_THAT(zone, HasSubstr("pop IN TXT \"ams\"\n"));
}

}  // namespace
}  // namespace vantage::lab
