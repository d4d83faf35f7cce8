#include "lab/echo_turnaround.h"

#include <optional>

namespace vantage::lab {
namespace {

struct Echo {
  bool request = false;
  std::string key;  // node, request's source and destination, identifier and sequence
};

// The echo request or reply in `p`, nullopt for anything else (including
// fragments and IPv6 packets with extension headers).
std::optional<Echo> ParseEcho(int node, const uint8_t* p, size_t size) {
  if (size < 1) return std::nullopt;
  size_t icmp = 0;
  size_t address_length = 0;
  size_t source = 0;
  uint8_t request_type = 0;
  uint8_t reply_type = 0;
  if (p[0] >> 4 == 4) {
    icmp = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (size < 20 || icmp < 20 || p[9] != 1 || ((p[6] & 0x3f) | p[7]) != 0) return std::nullopt;
    address_length = 4;
    source = 12;
    request_type = 8;
    reply_type = 0;
  } else if (p[0] >> 4 == 6) {
    icmp = 40;
    if (size < 40 || p[6] != 58) return std::nullopt;
    address_length = 16;
    source = 8;
    request_type = 128;
    reply_type = 129;
  } else {
    return std::nullopt;
  }
  if (size < icmp + 8 || (p[icmp] != request_type && p[icmp] != reply_type)) return std::nullopt;
  Echo e;
  e.request = p[icmp] == request_type;
  const size_t destination = source + address_length;
  // The request's source first: a reply has them swapped.
  const size_t first = e.request ? source : destination;
  const size_t second = e.request ? destination : source;
  e.key.push_back(static_cast<char>(node & 0xff));
  e.key.push_back(static_cast<char>((node >> 8) & 0xff));
  e.key.append(reinterpret_cast<const char*>(p + first), address_length);
  e.key.append(reinterpret_cast<const char*>(p + second), address_length);
  e.key.append(reinterpret_cast<const char*>(p + icmp + 4), 4);  // identifier, sequence
  return e;
}

}  // namespace

void EchoTurnaround::Delivered(int node, const uint8_t* packet, size_t size, absl::Time received) {
  std::optional<Echo> e = ParseEcho(node, packet, size);
  if (!e || !e->request) return;
  if (pending_.size() >= kMaxPending) {
    dropped_ += pending_.size();
    pending_.clear();
  }
  pending_[e->key] = received;
}

void EchoTurnaround::Transmitted(int node, const uint8_t* packet, size_t size,
                                 absl::Time transmitted) {
  std::optional<Echo> e = ParseEcho(node, packet, size);
  if (!e || e->request) return;
  auto it = pending_.find(e->key);
  if (it == pending_.end()) return;
  per_node_[static_cast<size_t>(node)].Add(transmitted - it->second);
  pending_.erase(it);
}

}  // namespace vantage::lab
