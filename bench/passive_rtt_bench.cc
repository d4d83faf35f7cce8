// Passive RTT throughput on one pcap file read from the page cache, in one
// run, side by side:
//   (a) a libpcap loop with an empty callback: the ceiling;
//   (b) ours: PcapFileSource -> PacketDecoder -> PassiveRtt ->
//       ClientPrefixAggregator (every method on, 1-minute windows), then
//       Flush() and the windows taken, as the probe daemon does (the
//       TakeAll's own share is shown apart: a daemon pays it once per
//       window, this pass once per 0.3 s of CPU); also shown
//       without the aggregation (samples discarded) and with Crypto-PAn
//       pseudonyms on (a key set, as the daemon does with a key file);
//   (c) `tshark -r FILE -T fields -e tcp.stream -e tcp.analysis.initial_rtt`:
//       Wireshark computing the same handshake RTTs;
//   (d) the floor: a minimal pipelined pping-like loop (FloorLoop), what
//       the hardware allows, to judge how far (b) is from it;
//   (e) the decoder alone: (a) plus PacketDecoder::DecodeTcpSegment on every
//       packet, the first step of (b), to show what reading the headers
//       costs before any flow is tracked.
// Goals (issue 5): (b) >= 70% of (a), and >= 10x (c).
//
// Usage: passive_rtt_bench [--flows N] [--exchanges K] [--concurrent C] [--prefixes P]
//                          [--rtt-spread S]
//                          [--file PATH] [--keep]
//                          [--reuse] [--skip-tshark] [--repeat R]
//                          [--general-path] [--only empty|ours|tracking|keyed|floor|decode]
// CPU time of this process (tshark: of the child), not wall time: the
// machine is shared. (a) and (b) read the file the same way (pcap_dispatch,
// 4096 packets a call, from the page cache), are interleaved R times
// (default 7) after a warm-up pass each, and each figure is the median of
// its R passes, so a neighbour's burst hits both alike rather than one of
// them. `--only MODE` runs one pass of one loop and nothing else (for
// `valgrind --tool=callgrind`: instructions per packet, immune to noise);
// with `--repeat R` it runs a warm-up pass and R passes and prints their
// median CPU time (steady state: for A/B runs of two builds).
// The capture is synthetic but realistic in shape: N TCP connections (from
// P client /24s (default 4096), C at a time (default 1000) interleaved), each a handshake, K
// request/response exchanges with timestamps, and a FIN exchange; snaplen 128.
#include <pcap/pcap.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "probe/client_prefix_aggregator.h"
#include "probe/packet_decoder.h"
#include "probe/passive_rtt.h"
#include "probe/pcap_file_source.h"

namespace {

// CPU time of this process, or of its finished children: the machine is
// shared, so wall time would measure the neighbours too.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double ChildrenCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

struct Writer {
  pcap_dumper_t* dumper;
  int64_t now_ns;
  uint64_t packets = 0;
  // Ethernet + IPv4 + TCP with the timestamp option (32-byte header).
  void Tcp(uint32_t client, bool from_client, uint16_t client_port, uint8_t flags, uint32_t seq,
           uint32_t ack, uint32_t tsval, uint32_t tsecr, uint32_t payload, int64_t step_ns) {
    uint8_t frame[128] = {};
    std::memset(frame, 0x02, 12);
    Put16(frame + 12, 0x0800);
    uint8_t* ip = frame + 14;
    ip[0] = 0x45;
    const uint32_t ip_len = 20 + 32 + payload;
    Put16(ip + 2, static_cast<uint16_t>(ip_len));
    Put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    const uint32_t server = 0xc6120001;  // 198.18.0.1
    Put32(ip + 12, from_client ? client : server);
    Put32(ip + 16, from_client ? server : client);
    uint8_t* tcp = ip + 20;
    Put16(tcp, from_client ? client_port : 443);
    Put16(tcp + 2, from_client ? 443 : client_port);
    Put32(tcp + 4, seq);
    Put32(tcp + 8, ack);
    tcp[12] = 8 << 4;
    tcp[13] = flags;
    Put16(tcp + 14, 65535);
    tcp[20] = 1;
    tcp[21] = 1;
    tcp[22] = 8;
    tcp[23] = 10;
    Put32(tcp + 24, tsval);
    Put32(tcp + 28, tsecr);
    pcap_pkthdr h{};
    now_ns += step_ns;
    h.ts.tv_sec = now_ns / 1000000000;
    h.ts.tv_usec = now_ns % 1000000000;
    h.len = 14 + ip_len;
    h.caplen = h.len < 128 ? h.len : 128;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame);
    ++packets;
  }
};

// `spread` (percent, 0-100): each phase visits the batch's connections in
// a new random order, shuffled within blocks of spread% of them (seeded: the
// same file every time), so that RTTs vary between connections and
// exchanges, by up to +-spread% of a phase's length, as real ones do; 0 (the
// default): in order, one RTT per phase.
uint64_t WriteCapture(const std::string& path, int flows, int exchanges, int concurrent,
                      uint32_t prefixes, int spread) {
  pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 128, PCAP_TSTAMP_PRECISION_NANO);
  Writer w{pcap_dump_open(dead, path.c_str()), 1700000000000000000};
  if (w.dumper == nullptr) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::mt19937 random(1);
  std::vector<uint32_t> order;
  for (int base = 0; base < flows; base += concurrent) {
    const int n = std::min(concurrent, flows - base);
    // Interleave the connections of one batch phase by phase: the i-th packet
    // of a phase is connection order[i]'s (reshuffled per phase with
    // --rtt-spread).
    order.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = static_cast<uint32_t>(base + i);
    const size_t block =
        std::max<size_t>(1, static_cast<size_t>(n) * static_cast<size_t>(spread) / 100);
    auto phase = [&] {
      if (spread == 0) return;
      for (size_t j = 0; j < order.size(); j += block) {
        const auto first = order.begin() + static_cast<std::ptrdiff_t>(j);
        std::shuffle(first, first + static_cast<std::ptrdiff_t>(std::min(block, order.size() - j)),
                     random);
      }
    };
    auto client = [&](int i) {
      const uint32_t id = order[static_cast<size_t>(i)];
      return 0x0a000000u | ((id % prefixes) << 8) | (1 + id % 200);  // 10.x.y.z
    };
    auto port = [&](int i) {
      return static_cast<uint16_t>(20000 + order[static_cast<size_t>(i)] % 40000);
    };
    phase();
    for (int i = 0; i < n; ++i) w.Tcp(client(i), true, port(i), 0x02, 1000, 0, 10, 0, 0, 500);
    phase();
    for (int i = 0; i < n; ++i) w.Tcp(client(i), false, port(i), 0x12, 5000, 1001, 90, 10, 0, 500);
    phase();
    for (int i = 0; i < n; ++i) w.Tcp(client(i), true, port(i), 0x10, 1001, 5001, 11, 90, 0, 500);
    for (uint32_t k = 0; k < static_cast<uint32_t>(exchanges); ++k) {
      const uint32_t off = k * 1000;
      phase();
      for (int i = 0; i < n; ++i) {
        w.Tcp(client(i), true, port(i), 0x18, 1001 + 200 * k, 5001 + off, 12 + k, 91 + k, 200, 300);
      }
      phase();
      for (int i = 0; i < n; ++i) {
        w.Tcp(client(i), false, port(i), 0x18, 5001 + off, 1201 + 200 * k, 92 + k, 12 + k, 1000,
              300);
      }
    }
    const auto rounds = static_cast<uint32_t>(exchanges);
    const uint32_t cseq = 1001 + 200 * rounds;
    const uint32_t sseq = 5001 + 1000 * rounds;
    phase();
    for (int i = 0; i < n; ++i) w.Tcp(client(i), true, port(i), 0x11, cseq, sseq, 60, 200, 0, 300);
    phase();
    for (int i = 0; i < n; ++i) {
      w.Tcp(client(i), false, port(i), 0x11, sseq, cseq + 1, 210, 60, 0, 300);
    }
    phase();
    for (int i = 0; i < n; ++i) {
      w.Tcp(client(i), true, port(i), 0x10, cseq + 1, sseq + 1, 61, 210, 0, 300);
    }
  }
  pcap_dump_close(w.dumper);
  pcap_close(dead);
  return w.packets;
}

void WarmPageCache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(1 << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void EmptyCallback(u_char*, const pcap_pkthdr*, const u_char*) {}

// (e): the decoder on every packet, its fields kept (so that the work
// cannot be optimised away).
struct DecodeOnly {
  int link_type;
  uint64_t tcp = 0;
  uint64_t checksum = 0;
  static void Callback(u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
    auto* self = reinterpret_cast<DecodeOnly*>(user);
    vantage::probe::TcpSegmentFields f;
    if (vantage::probe::PacketDecoder::DecodeTcpSegment(
            self->link_type, absl::MakeConstSpan(bytes, h->caplen), h->len, &f)) {
      ++self->tcp;
      self->checksum += f.src[0] ^ f.dst[0] ^ f.seq ^ f.ack ^ f.tsval ^ f.tsecr ^ f.flags;
    }
  }
};

double DecodeLoop(const std::string& path, uint64_t* packets, uint64_t* tcp) {
  char errbuf[PCAP_ERRBUF_SIZE];
  const double start = CpuSeconds();
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) std::exit(1);
  DecodeOnly decode{pcap_datalink(p)};
  uint64_t n = 0;
  int rc;
  while ((rc = pcap_dispatch(p, 4096, &DecodeOnly::Callback, reinterpret_cast<u_char*>(&decode))) >
         0) {
    n += static_cast<uint64_t>(rc);
  }
  pcap_close(p);
  *packets = n;
  *tcp = decode.tcp + (decode.checksum == 42 ? 1 : 0);
  return CpuSeconds() - start;
}

double EmptyLoop(const std::string& path, uint64_t* packets) {
  char errbuf[PCAP_ERRBUF_SIZE];
  const double start = CpuSeconds();
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) std::exit(1);
  uint64_t n = 0;
  int rc;
  while ((rc = pcap_dispatch(p, 4096, EmptyCallback, nullptr)) > 0) n += static_cast<uint64_t>(rc);
  pcap_close(p);
  *packets = n;
  return CpuSeconds() - start;
}

// (d) The floor: what a minimal pipelined pping-like loop costs on this
// machine, for judging how far (b) is from what the hardware allows. Only
// Ethernet / IPv4 without options / TCP with NOP,NOP,timestamps; one
// pending TSval per direction; no handshake, FIN, eviction, bounds, stats
// or sketches (a dense log-linear histogram per /24 instead); flows never
// leave the table. Not a product path: a yardstick.
class FloorLoop {
 public:
  FloorLoop()
      : table_(size_t{1} << kTableBits, 0),
        prefix_table_(2 * kMaxPrefixes, 0),
        // calloc: pages come zeroed on first touch, as a growing table's would.
        buckets_(static_cast<uint32_t*>(std::calloc(kMaxPrefixes * 2 * kBuckets, 4))) {
    flows_.reserve(size_t{1} << 17);
    prefixes_.reserve(kMaxPrefixes);
  }
  ~FloorLoop() { std::free(buckets_); }
  FloorLoop(const FloorLoop&) = delete;
  FloorLoop& operator=(const FloorLoop&) = delete;
  uint64_t samples() const { return samples_; }
  static void Callback(u_char* user, const pcap_pkthdr* h, const u_char* p) {
    reinterpret_cast<FloorLoop*>(user)->Enqueue(h, p);
  }
  void Drain() {
    while (size_ > 0) ProcessOldest();
  }

 private:
  static constexpr int kTableBits = 18;
  // Per prefix and leg: 16 per octave over 16 octaves from 1.024 us.
  static constexpr size_t kBuckets = 256;
  static constexpr size_t kMaxPrefixes = size_t{1} << 13;
  struct Flow {
    uint64_t key;
    uint32_t ports;
    uint32_t prefix;
    uint32_t pending_value[2];
    int64_t pending_ns[2];
    uint32_t last_tsval[2];
  };
  struct Prefix {
    uint32_t net;
    uint32_t flows;
    uint64_t packets;
    uint64_t bytes;
    uint64_t count[2];
    int64_t min[2];
    int64_t max[2];
  };
  struct Queued {
    int64_t now;
    uint64_t key;
    uint64_t hash;
    uint32_t ports, tsval, tsecr, client, ip_length, hint;
    uint8_t flags;
    int side;
  };
  static uint32_t Load32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
  }
  void Enqueue(const pcap_pkthdr* h, const u_char* p) {
    if (h->caplen < 66 || p[12] != 0x08 || p[13] != 0x00 || p[14] != 0x45 || p[23] != 6) return;
    const uint8_t* ip = p + 14;
    const uint8_t* tcp = ip + 20;
    if ((tcp[12] >> 4) != 8 || Load32(tcp + 20) != 0x0101080a) return;
    if (size_ == kDepth) ProcessOldest();
    Queued& q = ring_[(head_ + size_) % kDepth];
    ++size_;
    const uint32_t src = Load32(ip + 12);
    const uint32_t dst = Load32(ip + 16);
    const uint32_t sport = static_cast<uint32_t>(tcp[0] << 8 | tcp[1]);
    const uint32_t dport = static_cast<uint32_t>(tcp[2] << 8 | tcp[3]);
    q.side = src < dst ? 0 : 1;
    q.key = q.side == 0 ? uint64_t{src} << 32 | dst : uint64_t{dst} << 32 | src;
    q.ports = q.side == 0 ? sport << 16 | dport : dport << 16 | sport;
    q.client = sport > dport ? src : dst;
    q.hash = (q.key ^ uint64_t{q.ports} * 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL;
    q.hash ^= q.hash >> 32;
    q.now = static_cast<int64_t>(h->ts.tv_sec) * 1000000000 + h->ts.tv_usec;
    q.tsval = Load32(tcp + 24);
    q.tsecr = Load32(tcp + 28);
    q.ip_length = static_cast<uint32_t>(ip[2] << 8 | ip[3]);
    q.flags = tcp[13];
    q.hint = 0;
    __builtin_prefetch(&table_[q.hash & (table_.size() - 1)]);
    if (size_ > 4) {
      Queued& o = ring_[(head_ + size_ - 5) % kDepth];
      o.hint = table_[o.hash & (table_.size() - 1)];
      if (o.hint != 0) __builtin_prefetch(&flows_[o.hint - 1]);
    }
    if (size_ > 6) {
      const Queued& o = ring_[(head_ + size_ - 7) % kDepth];
      if (o.hint != 0 && o.hint <= flows_.size()) {
        __builtin_prefetch(&prefixes_[flows_[o.hint - 1].prefix]);
      }
    }
  }
  void ProcessOldest() {
    const Queued& q = ring_[head_];
    head_ = (head_ + 1) % kDepth;
    --size_;
    const size_t mask = table_.size() - 1;
    size_t i = q.hash & mask;
    Flow* flow = nullptr;
    for (; table_[i] != 0; i = (i + 1) & mask) {
      Flow& f = flows_[table_[i] - 1];
      if (f.key == q.key && f.ports == q.ports) {
        flow = &f;
        break;
      }
    }
    if (flow == nullptr) {
      if (2 * flows_.size() >= table_.size()) return;  // full: a yardstick, not a product
      flows_.push_back(Flow{q.key, q.ports, PrefixOf(q.client & 0xffffff00u), {}, {}, {}});
      flow = &flows_.back();
      table_[i] = static_cast<uint32_t>(flows_.size());
      ++prefixes_[flow->prefix].flows;
    }
    Prefix& prefix = prefixes_[flow->prefix];
    ++prefix.packets;
    prefix.bytes += q.ip_length;
    const int other = 1 - q.side;
    if ((q.flags & 0x10) != 0 && flow->pending_ns[other] != 0 &&
        flow->pending_value[other] == q.tsecr) {
      const int64_t rtt = q.now - flow->pending_ns[other];
      flow->pending_ns[other] = 0;
      if (rtt >= 0) {
        const auto leg = static_cast<size_t>(other);
        if (prefix.count[leg]++ == 0 || rtt < prefix.min[leg]) prefix.min[leg] = rtt;
        prefix.max[leg] = std::max(prefix.max[leg], rtt);
        const auto ns = static_cast<uint64_t>(std::clamp<int64_t>(rtt, 1024, (1LL << 26) - 1));
        const int octave = 63 - __builtin_clzll(ns);
        const auto bucket = static_cast<size_t>((octave - 10) * 16) + ((ns >> (octave - 4)) & 15);
        ++buckets_[(size_t{flow->prefix} * 2 + leg) * kBuckets + bucket];
        ++samples_;
      }
    }
    uint32_t& last = flow->last_tsval[q.side];
    if (last == 0 || static_cast<int32_t>(q.tsval - last) > 0) {
      last = q.tsval;
      flow->pending_value[q.side] = q.tsval;
      flow->pending_ns[q.side] = q.now;
    }
  }
  uint32_t PrefixOf(uint32_t net) {
    const size_t mask = prefix_table_.size() - 1;
    size_t j = (net * 0x9e3779b1u) >> 18 & mask;
    for (; prefix_table_[j] != 0; j = (j + 1) & mask) {
      if (prefixes_[prefix_table_[j] - 1].net == net) return prefix_table_[j] - 1;
    }
    if (prefixes_.size() >= kMaxPrefixes) return 0;
    prefixes_.push_back(Prefix{net, 0, 0, 0, {}, {}, {}});
    prefix_table_[j] = static_cast<uint32_t>(prefixes_.size());
    return prefix_table_[j] - 1;
  }

  static constexpr size_t kDepth = 8;
  std::vector<uint32_t> table_;  // index + 1 into flows_
  std::vector<Flow> flows_;
  std::vector<uint32_t> prefix_table_;
  std::vector<Prefix> prefixes_;
  uint32_t* buckets_;  // kMaxPrefixes x 2 legs x kBuckets
  std::array<Queued, kDepth> ring_{};
  size_t head_ = 0;
  size_t size_ = 0;
  uint64_t samples_ = 0;
};

double Floor(const std::string& path, uint64_t* packets, uint64_t* samples) {
  char errbuf[PCAP_ERRBUF_SIZE];
  const double start = CpuSeconds();
  auto loop = std::make_unique<FloorLoop>();
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
  if (p == nullptr) std::exit(1);
  uint64_t n = 0;
  int rc;
  while ((rc = pcap_dispatch(p, 4096, &FloorLoop::Callback,
                             reinterpret_cast<u_char*>(loop.get()))) > 0) {
    n += static_cast<uint64_t>(rc);
    loop->Drain();
  }
  pcap_close(p);
  *packets = n;
  *samples = loop->samples();
  return CpuSeconds() - start;
}

// Discards everything: isolates capture + decoding + RTT tracking from the
// per-prefix aggregation.
class NullSink : public vantage::probe::PassiveRttSink {
 public:
  void OnSample(const vantage::probe::RttSample&) override {}
  bool batches_samples() const override { return true; }
  void OnSampleBatch(const vantage::Prefix&,
                     absl::Span<const vantage::probe::FlowRttSample>) override {}
  void OnFlow(absl::Time, const vantage::Prefix&) override {}
  void OnTraffic(absl::Time, const vantage::Prefix&, uint64_t, uint64_t) override {}
};

// --general-path: every packet through PassiveRtt's general state machine
// (PassiveRttOptions::general_path_only), to A/B its fast path.
bool general_path = false;

// `take_seconds`, when given: the CPU time of the TakeAll at the end (part
// of the returned time).
double Ours(const std::string& path, bool aggregate, uint64_t* packets,
            vantage::probe::PassiveRttStats* stats, size_t* windows, bool pseudonyms = false,
            double* take_seconds = nullptr) {
  const double start = CpuSeconds();
  vantage::probe::ClientPrefixAggregator aggregator(absl::Minutes(1));
  NullSink null_sink;
  vantage::probe::PassiveRttOptions options;
  options.general_path_only = general_path;
  auto rtt = vantage::probe::PassiveRtt::Create(
      options, aggregate ? static_cast<vantage::probe::PassiveRttSink*>(&aggregator) : &null_sink);
  auto source = vantage::probe::PcapFileSource::Open(path);
  if (!rtt.ok() || !source.ok()) std::exit(1);
  if (pseudonyms && !(*rtt)->SetAnonymizationKey(std::string(32, '\x5a')).ok()) std::exit(1);
  vantage::probe::PassiveRtt* tracker = rtt->get();
  uint64_t n = 0;
  while (true) {
    auto got = tracker->DispatchFrom(source->get(), 4096);
    if (!got.ok() || *got == 0) break;
    n += static_cast<uint64_t>(*got);
  }
  tracker->Flush();
  const double take_start = CpuSeconds();
  *windows = aggregator.TakeAll().size();
  if (take_seconds != nullptr) *take_seconds = CpuSeconds() - take_start;
  *stats = tracker->stats();
  *packets = n;
  return CpuSeconds() - start;
}

double Tshark(const std::string& path, uint64_t* lines) {
  const std::string command =
      "tshark -r " + path + " -T fields -e tcp.stream -e tcp.analysis.initial_rtt 2>/dev/null";
  const double start = ChildrenCpuSeconds();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char line[256];
  uint64_t n = 0;
  while (std::fgets(line, sizeof(line), pipe) != nullptr) ++n;
  const int status = pclose(pipe);
  *lines = n;
  return status == 0 ? ChildrenCpuSeconds() - start : -1;
}

}  // namespace

int main(int argc, char** argv) {
  int flows = 50000;
  int exchanges = 3;
  int concurrent = 1000;
  uint32_t prefixes = 4096;
  std::string path = "/tmp/vt_passive_rtt_bench.pcap";
  bool keep = false;
  bool skip_tshark = false;
  bool reuse = false;
  int repeat = 7;
  bool repeat_given = false;
  std::string only;
  int spread = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--flows" && i + 1 < argc)
      flows = std::atoi(argv[++i]);
    else if (arg == "--exchanges" && i + 1 < argc)
      exchanges = std::atoi(argv[++i]);
    else if (arg == "--concurrent" && i + 1 < argc)
      concurrent = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--prefixes" && i + 1 < argc)
      prefixes = static_cast<uint32_t>(std::clamp(std::atoi(argv[++i]), 1, 1 << 16));
    else if (arg == "--file" && i + 1 < argc)
      path = argv[++i];
    else if (arg == "--keep")
      keep = true;
    else if (arg == "--skip-tshark")
      skip_tshark = true;
    else if (arg == "--reuse")
      reuse = true;  // read --file as is (e.g. a real capture)
    else if (arg == "--repeat" && i + 1 < argc)
      repeat = std::max(1, std::atoi(argv[++i])), repeat_given = true;
    else if (arg == "--only" && i + 1 < argc)
      only = argv[++i];
    else if (arg == "--general-path")
      general_path = true;
    else if (arg == "--rtt-spread" && i + 1 < argc)
      spread = std::clamp(std::atoi(argv[++i]), 0, 100);
  }
  if (!only.empty()) {
    // One pass of one loop on an existing file (see the header).
    // With --repeat R: a warm-up pass, then R passes and their median CPU
    // time (steady state, for A/B runs of two builds).
    uint64_t n = 0;
    uint64_t samples = 0;
    auto pass = [&]() -> double {
      if (only == "empty") return EmptyLoop(path, &n);
      if (only == "floor") return Floor(path, &n, &samples);
      if (only == "decode") return DecodeLoop(path, &n, &samples);
      if (only == "ours" || only == "tracking" || only == "keyed") {
        vantage::probe::PassiveRttStats s;
        size_t w = 0;
        const double t = Ours(path, only != "tracking", &n, &s, &w, only == "keyed");
        samples = s.samples[0] + s.samples[1] + s.samples[2];
        return t;
      }
      std::fprintf(stderr, "--only: empty, ours, tracking, keyed, floor or decode\n");
      std::exit(2);
    };
    const int passes = repeat_given ? repeat : 1;
    std::vector<double> runs;
    runs.reserve(static_cast<size_t>(passes));
    if (repeat_given) pass();
    for (int r = 0; r < passes; ++r) runs.push_back(pass());
    std::printf("%s: %llu packets, %llu samples", only.c_str(), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(samples));
    if (repeat_given) std::printf("; median pass %.3f ms of %d", 1e3 * Median(runs), repeat);
    std::printf("\n");
    return 0;
  }
  uint64_t written = 0;
  if (reuse) {
    keep = true;
    EmptyLoop(path, &written);
  } else {
    written = WriteCapture(path, flows, exchanges, concurrent, prefixes, spread);
  }
  WarmPageCache(path);
  if (reuse) {
    std::printf("capture: %s, %llu packets; median of %d passes\n", path.c_str(),
                static_cast<unsigned long long>(written), repeat);
  } else {
    std::printf("capture: %s, %llu packets, %d flows, %d at a time; median of %d passes\n",
                path.c_str(), static_cast<unsigned long long>(written), flows, concurrent, repeat);
  }

  uint64_t empty_packets = 0, our_packets = 0, tshark_lines = 0;
  vantage::probe::PassiveRttStats stats;
  size_t windows = 0;
  size_t unused_windows = 0;
  vantage::probe::PassiveRttStats unused_stats;
  uint64_t tracking_packets = 0;
  uint64_t keyed_packets = 0;
  // Warm-up pass of each, then the measured passes, interleaved; median of R.
  EmptyLoop(path, &empty_packets);
  Ours(path, true, &our_packets, &stats, &windows);
  std::vector<double> empty_runs, our_runs, take_runs, tracking_runs, keyed_runs, floor_runs,
      decode_runs;
  uint64_t floor_packets = 0;
  uint64_t floor_samples = 0;
  uint64_t decode_packets = 0;
  uint64_t decoded_tcp = 0;
  for (int r = 0; r < repeat; ++r) {
    empty_runs.push_back(EmptyLoop(path, &empty_packets));
    double take = 0;
    our_runs.push_back(
        Ours(path, true, &our_packets, &stats, &windows, /*pseudonyms=*/false, &take));
    take_runs.push_back(take);
    tracking_runs.push_back(Ours(path, false, &tracking_packets, &unused_stats, &unused_windows));
    keyed_runs.push_back(Ours(path, true, &keyed_packets, &unused_stats, &unused_windows,
                              /*pseudonyms=*/true));
    floor_runs.push_back(Floor(path, &floor_packets, &floor_samples));
    decode_runs.push_back(DecodeLoop(path, &decode_packets, &decoded_tcp));
  }
  const double t_empty = Median(empty_runs);
  const double t_ours = Median(our_runs);
  const double t_tracking = Median(tracking_runs);
  const double t_keyed = Median(keyed_runs);
  const double t_floor = Median(floor_runs);
  const double t_decode = Median(decode_runs);
  const double t_tshark = skip_tshark ? -1 : Tshark(path, &tshark_lines);

  const double empty_pps = static_cast<double>(empty_packets) / t_empty;
  const double our_pps = static_cast<double>(our_packets) / t_ours;
  std::printf("(a) libpcap empty loop : %12.0f packets/s (%.3f s CPU)\n", empty_pps, t_empty);
  std::printf(
      "(b) vantage PassiveRtt : %12.0f packets/s (%.3f s CPU); samples: %llu handshake, "
      "%llu timestamp, %llu seq/ack (%.2f per packet); %zu prefix-windows\n",
      our_pps, t_ours, static_cast<unsigned long long>(stats.samples[0]),
      static_cast<unsigned long long>(stats.samples[1]),
      static_cast<unsigned long long>(stats.samples[2]),
      static_cast<double>(stats.samples[0] + stats.samples[1] + stats.samples[2]) /
          static_cast<double>(our_packets),
      windows);
  // The windows are taken once per pass, as a daemon does once per window
  // (a minute): conservative for a capture this short, so shown apart.
  const double t_take = Median(take_runs);
  std::printf(
      "    (b) of which the TakeAll of %zu windows at the end: %.1f ms CPU (%.1f%% of (b)); "
      "without it: %.1f%% of (a)\n",
      windows, 1e3 * t_take, 100.0 * t_take / t_ours,
      100.0 * (static_cast<double>(our_packets) / (t_ours - t_take)) / empty_pps);
  const double tracking_pps = static_cast<double>(tracking_packets) / t_tracking;
  std::printf("    (b) without per-prefix aggregation: %.0f packets/s, %.1f%% of (a)\n",
              tracking_pps, 100.0 * tracking_pps / empty_pps);
  const double keyed_pps = static_cast<double>(keyed_packets) / t_keyed;
  std::printf("    (b) with Crypto-PAn pseudonyms:     %.0f packets/s, %.1f%% of (a)\n", keyed_pps,
              100.0 * keyed_pps / empty_pps);
  const double floor_pps = static_cast<double>(floor_packets) / t_floor;
  std::printf(
      "(d) floor, a minimal pipelined TS-echo loop (no handshake, FIN, bounds or sketches; a "
      "yardstick, not a product path): %.0f packets/s, %.1f%% of (a); %llu samples\n",
      floor_pps, 100.0 * floor_pps / empty_pps, static_cast<unsigned long long>(floor_samples));
  const double decode_pps = static_cast<double>(decode_packets) / t_decode;
  std::printf(
      "(e) the decoder alone (headers read, no flow tracked): %.0f packets/s, %.1f%% of (a)\n",
      decode_pps, 100.0 * decode_pps / empty_pps);
  if (t_tshark > 0 && tshark_lines == written) {
    const double tshark_pps = static_cast<double>(written) / t_tshark;
    std::printf("(c) tshark initial_rtt : %12.0f packets/s (%.3f s CPU)\n", tshark_pps, t_tshark);
    std::printf("ours / ceiling = %.1f%% (goal >= 70%%); ours / tshark = %.1fx (goal >= 10x)\n",
                100.0 * our_pps / empty_pps, our_pps / tshark_pps);
  } else {
    std::printf("(c) tshark unavailable or failed\n");
    std::printf("ours / ceiling = %.1f%% (goal >= 70%%)\n", 100.0 * our_pps / empty_pps);
  }
  if (!keep) unlink(path.c_str());
  return 0;
}
