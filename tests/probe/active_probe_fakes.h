// Fakes and packet helpers for the active prober's unit tests: a ProbeSender
// that records what it would send, a PacketSource fed by the test, and
// builders that turn a recorded probe into the reply (or error) a target
// would send.
//
// Thread model: single-threaded test code.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/time/time.h"
#include "core/ip_address.h"
#include "probe/packet_source.h"
#include "probe/probe_codec.h"
#include "probe/probe_sender.h"

namespace vantage::probe::testing {

struct SentProbe {
  IpAddress destination;
  ProbePacket packet;
  int flow = 0;
};

class FakeProbeSender final : public ProbeSender {
 public:
  absl::StatusOr<IpAddress> SourceAddressFor(const IpAddress& destination) override {
    return destination.is_v4() ? *IpAddress::Parse("198.18.0.1") : *IpAddress::Parse("2001:db8::1");
  }
  absl::StatusOr<std::vector<uint16_t>> OpenStampSockets(int flows) override {
    std::vector<uint16_t> ports;
    ports.reserve(static_cast<size_t>(flows));
    for (int f = 0; f < flows; ++f) ports.push_back(static_cast<uint16_t>(40000 + f));
    return ports;
  }
  absl::Status Send(const IpAddress& destination, const ProbePacket& packet, int flow) override {
    if (fail_sends) return absl::UnavailableError("fake send failure");
    sent.push_back(SentProbe{destination, packet, flow});
    return absl::OkStatus();
  }

  bool fail_sends = false;
  std::vector<SentProbe> sent;
};

// Raw-IP captured packets (DLT_RAW) handed to the prober on Dispatch.
class FakePacketSource final : public PacketSource {
 public:
  void Push(absl::Time timestamp, std::vector<uint8_t> bytes) {
    queue_.push_back(Entry{timestamp, std::move(bytes)});
  }
  int selectable_fd() const override { return -1; }
  int link_type() const override { return 12; }
  absl::StatusOr<int> Dispatch(int max_packets, const Callback& callback) override {
    int n = 0;
    while (!queue_.empty() && (max_packets <= 0 || n < max_packets)) {
      Entry e = std::move(queue_.front());
      queue_.pop_front();
      CapturedPacket p;
      p.time_ns = absl::ToUnixNanos(e.timestamp);
      p.bytes = e.bytes;
      p.wire_length = static_cast<uint32_t>(e.bytes.size());
      p.link_type = 12;
      callback(p);
      ++n;
    }
    return n;
  }
  CaptureStats Stats() override { return {}; }

 private:
  struct Entry {
    absl::Time timestamp;
    std::vector<uint8_t> bytes;
  };
  std::deque<Entry> queue_;
};

// An IPv4 or IPv6 packet around `l4` (checksums of the IP header left 0).
std::vector<uint8_t> WrapIp(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                            absl::Span<const uint8_t> l4, uint8_t ttl = 64);

// The IP packet of a probe as it leaves (source = the fake's source address).
std::vector<uint8_t> RequestPacket(const SentProbe& probe);
// What the target answers: echo reply, SYN-ACK (or RST-ACK), STAMP
// reflection (with the given reflector timestamps).
std::vector<uint8_t> ReplyPacket(const SentProbe& probe, bool tcp_rst = false,
                                 absl::Time reflector_receive = absl::UnixEpoch(),
                                 absl::Time reflector_send = absl::UnixEpoch());
// An ICMP error from `router` quoting the probe's IP packet.
std::vector<uint8_t> IcmpErrorPacket(const SentProbe& probe, const IpAddress& router, uint8_t type,
                                     uint8_t code);

}  // namespace vantage::probe::testing
