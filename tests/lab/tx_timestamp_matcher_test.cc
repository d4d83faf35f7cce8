#include "lab/tx_timestamp_matcher.h"

#include <gtest/gtest.h>

#include <deque>
#include <optional>
#include <vector>

namespace vantage::lab {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

std::vector<uint8_t> Packet(uint8_t tag, size_t size = 60) {
  std::vector<uint8_t> p(size, 0x45);
  p[size - 1] = tag;
  return p;
}

TappedPacket Tapped(const std::vector<uint8_t>& packet, absl::Duration at) {
  const size_t n = std::min(packet.size(), TxTimestampMatcher::kHeadBytes);
  return TappedPacket{
      kT0 + at,
      std::vector<uint8_t>(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(n))};
}

// A tap fed by the test: what the kernel's packet socket would hold.
class FakeTap {
 public:
  void Add(TappedPacket p) { queue_.push_back(std::move(p)); }
  TxTimestampMatcher::TapReader Reader() {
    return [this]() -> std::optional<TappedPacket> {
      if (queue_.empty()) return std::nullopt;
      TappedPacket p = std::move(queue_.front());
      queue_.pop_front();
      return p;
    };
  }
  size_t size() const { return queue_.size(); }

 private:
  std::deque<TappedPacket> queue_;
};

TEST(TxTimestampMatcherTest, GivesEachPacketItsOwnTransmitTime) {
  TxTimestampMatcher m;
  FakeTap tap;
  const auto a = Packet(1), b = Packet(2);
  tap.Add(Tapped(a, absl::Microseconds(10)));
  tap.Add(Tapped(b, absl::Microseconds(20)));
  const absl::Time now = kT0 + absl::Microseconds(80);
  EXPECT_EQ(m.Match(a.data(), a.size(), now, tap.Reader()), kT0 + absl::Microseconds(10));
  // Only as much of the tap as needed was read.
  EXPECT_EQ(tap.size(), 1u);
  EXPECT_EQ(m.Match(b.data(), b.size(), now, tap.Reader()), kT0 + absl::Microseconds(20));
  EXPECT_EQ(m.counters().matched, 2u);
  EXPECT_EQ(m.counters().unmatched, 0u);
}

TEST(TxTimestampMatcherTest, OrderMayDifferBetweenTapAndDevice) {
  TxTimestampMatcher m;
  FakeTap tap;
  const auto a = Packet(1), b = Packet(2);
  tap.Add(Tapped(b, absl::Microseconds(20)));
  tap.Add(Tapped(a, absl::Microseconds(21)));
  const absl::Time now = kT0 + absl::Microseconds(80);
  EXPECT_EQ(m.Match(a.data(), a.size(), now, tap.Reader()), kT0 + absl::Microseconds(21));
  EXPECT_EQ(m.pending(), 1u);  // b's entry, passed over, waits
  EXPECT_EQ(m.Match(b.data(), b.size(), now, tap.Reader()), kT0 + absl::Microseconds(20));
  EXPECT_EQ(m.pending(), 0u);
}

TEST(TxTimestampMatcherTest, IdenticalPacketsMatchOldestFirst) {
  TxTimestampMatcher m;
  FakeTap tap;
  const auto a = Packet(1);
  tap.Add(Tapped(a, absl::Microseconds(10)));
  tap.Add(Tapped(a, absl::Microseconds(30)));
  const absl::Time now = kT0 + absl::Microseconds(80);
  EXPECT_EQ(m.Match(a.data(), a.size(), now, tap.Reader()), kT0 + absl::Microseconds(10));
  EXPECT_EQ(m.Match(a.data(), a.size(), now, tap.Reader()), kT0 + absl::Microseconds(30));
}

TEST(TxTimestampMatcherTest, HeadsCompareOnlyTheFirstBytesAndTheLength) {
  TxTimestampMatcher m;
  FakeTap tap;
  // Large packets differing only after kHeadBytes share a head: the first
  // tapped entry is taken, which is the right one in FIFO order.
  auto big1 = Packet(1, 1500), big2 = Packet(2, 1500);
  tap.Add(Tapped(big1, absl::Microseconds(5)));
  const auto shorter = Packet(1, 59);
  const absl::Time now = kT0 + absl::Microseconds(80);
  EXPECT_EQ(m.Match(shorter.data(), shorter.size(), now, tap.Reader()), std::nullopt);
  EXPECT_EQ(m.Match(big2.data(), big2.size(), now, tap.Reader()), kT0 + absl::Microseconds(5));
}

TEST(TxTimestampMatcherTest, UntappedPacketsFallBackAndStaleEntriesExpire) {
  TxTimestampMatcher m(absl::Milliseconds(200), 2);
  FakeTap tap;
  const auto a = Packet(1), b = Packet(2), c = Packet(3), d = Packet(4);
  tap.Add(Tapped(a, absl::Microseconds(10)));
  tap.Add(Tapped(b, absl::Microseconds(11)));
  tap.Add(Tapped(c, absl::Microseconds(12)));
  // d was never tapped: the whole tap is read into pending (bounded at 2).
  EXPECT_EQ(m.Match(d.data(), d.size(), kT0 + absl::Microseconds(50), tap.Reader()), std::nullopt);
  EXPECT_EQ(m.counters().unmatched, 1u);
  EXPECT_EQ(m.counters().overflow, 1u);  // a's entry made room
  EXPECT_EQ(m.pending(), 2u);
  // Much later, the pending entries are too old to be trusted.
  const absl::Time late = kT0 + absl::Seconds(1);
  EXPECT_EQ(m.Match(b.data(), b.size(), late, tap.Reader()), std::nullopt);
  EXPECT_EQ(m.counters().expired, 2u);
  EXPECT_EQ(m.pending(), 0u);
}

}  // namespace
}  // namespace vantage::lab
