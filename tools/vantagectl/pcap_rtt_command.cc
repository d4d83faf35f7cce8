// `vantagectl pcap-rtt <file>`: passive RTT from a capture (pcap/pcapng),
// per client prefix: p50/p90/p99/min RTT and sample counts per method, plus
// flows, packets and bytes. --per-sample prints every sample with its flow
// (on-box debugging: full client addresses, unless a pseudonymisation key is
// given, in which case only pseudonymised prefixes are printed).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "probe/client_prefix_aggregator.h"
#include "probe/passive_rtt.h"
#include "probe/pcap_file_source.h"
#include "tools/vantagectl/command.h"

namespace {

using vantage::Prefix;
using vantage::probe::ClientPrefixAggregator;
using vantage::probe::ClientPrefixWindow;
using vantage::probe::PassiveRtt;
using vantage::probe::PassiveRttOptions;
using vantage::probe::PassiveRttSink;
using vantage::probe::RttLeg;
using vantage::probe::RttMethod;
using vantage::probe::RttSample;

struct PcapRttArgs {
  std::string file;
  bool json = false;
  bool per_sample = false;
  std::string prefix_len = "24/48";
  std::vector<std::string> local;
  std::vector<uint16_t> local_ports;
  std::string key_file;
  std::string filter;
  double sample_interval_ms = 0;
  // One-shot: quantiles to 0.1% (reports use 1%, which alone can use up a
  // 1% accuracy budget).
  double sketch_alpha = 0.001;
};

// Tees samples to the aggregator and, with --per-sample, keeps them.
class CollectingSink : public PassiveRttSink {
 public:
  CollectingSink(ClientPrefixAggregator* aggregator, bool keep)
      : aggregator_(aggregator), keep_(keep) {}
  void OnSample(const RttSample& sample) override {
    aggregator_->OnSample(sample);
    if (keep_) samples_.push_back(sample);
  }
  void OnFlow(absl::Time time, const Prefix& prefix) override { aggregator_->OnFlow(time, prefix); }
  void OnTraffic(absl::Time time, const Prefix& prefix, uint64_t packets, uint64_t bytes) override {
    aggregator_->OnTraffic(time, prefix, packets, bytes);
  }
  const std::vector<RttSample>& samples() const { return samples_; }

 private:
  ClientPrefixAggregator* aggregator_;
  bool keep_;
  std::vector<RttSample> samples_;
};

bool ParsePrefixLengths(const std::string& text, PassiveRttOptions* options) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  int v4 = 0;
  int v6 = 48;
  if (parts.empty() || parts.size() > 2 || !absl::SimpleAtoi(parts[0], &v4)) return false;
  if (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &v6)) return false;
  if (v4 < 0 || v4 > 32 || v6 < 0 || v6 > 128) return false;
  options->client_prefix_length_v4 = v4;
  options->client_prefix_length_v6 = v6;
  return true;
}

// A key file holds 64 hex digits (whitespace ignored) or 32 raw bytes.
absl::StatusOr<std::string> ReadKey(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read key file " + path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string hex;
  for (char c : content) {
    if (!std::isspace(static_cast<unsigned char>(c))) hex.push_back(c);
  }
  if (hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) != 0;
      })) {
    return absl::HexStringToBytes(hex);
  }
  if (content.size() == 32) return content;
  return absl::InvalidArgumentError("key file " + path +
                                    " must hold 64 hex digits or 32 raw bytes");
}

std::string Us(double v) {
  if (std::isnan(v)) return "-";
  return absl::StrFormat("%.1f", v);
}

nlohmann::json StatsJson(const vantage::probe::PassiveRttStats& s) {
  nlohmann::json decode = nlohmann::json::object();
  for (size_t i = 1; i < s.decode.counts.size(); ++i) {
    if (s.decode.counts[i] != 0) {
      decode[vantage::probe::DecodeStatusName(static_cast<vantage::probe::DecodeStatus>(i))] =
          s.decode.counts[i];
    }
  }
  return {{"packets", s.packets},
          {"tcp_packets", s.tcp_packets},
          {"non_tcp_packets", s.non_tcp_packets},
          {"decode_failures", decode},
          {"flows_created", s.flows_created},
          {"flows_evicted_idle", s.flows_evicted_idle},
          {"flows_closed", s.flows_closed},
          {"flows_rejected_full", s.flows_rejected_full},
          {"pending_evicted", s.pending_evicted},
          {"pending_expired", s.pending_expired},
          {"karn_discarded", s.karn_discarded},
          {"rate_limited", s.rate_limited},
          {"samples_handshake", s.samples[0]},
          {"samples_timestamp", s.samples[1]},
          {"samples_seq_ack", s.samples[2]}};
}

int Run(const PcapRttArgs& args) {
  PassiveRttOptions options;
  if (!ParsePrefixLengths(args.prefix_len, &options)) {
    std::fprintf(stderr, "pcap-rtt: --prefix-len wants V4[/V6], e.g. 24/48\n");
    return 2;
  }
  for (const std::string& text : args.local) {
    auto prefix = Prefix::Parse(text);
    if (!prefix.ok()) {
      std::fprintf(stderr, "pcap-rtt: --local %s: %s\n", text.c_str(),
                   std::string(prefix.status().message()).c_str());
      return 2;
    }
    options.local_prefixes.push_back(*prefix);
  }
  options.local_ports = args.local_ports;
  options.min_sample_interval = absl::Milliseconds(args.sample_interval_ms);
  // A file is analysed in one go: keep flows for the whole capture.
  options.flow_idle_timeout = absl::Hours(24);
  const bool anonymize = !args.key_file.empty();
  options.expose_client_addresses = args.per_sample && !anonymize;

  ClientPrefixAggregator aggregator(absl::InfiniteDuration(), size_t{1} << 20, args.sketch_alpha);
  CollectingSink sink(&aggregator, args.per_sample);
  auto rtt = PassiveRtt::Create(options, &sink);
  if (!rtt.ok()) {
    std::fprintf(stderr, "pcap-rtt: %s\n", std::string(rtt.status().message()).c_str());
    return 1;
  }
  if (anonymize) {
    auto key = ReadKey(args.key_file);
    absl::Status status = key.ok() ? (*rtt)->SetAnonymizationKey(*key) : key.status();
    if (!status.ok()) {
      std::fprintf(stderr, "pcap-rtt: %s\n", std::string(status.message()).c_str());
      return 2;
    }
  }
  auto source = vantage::probe::PcapFileSource::Open(args.file, args.filter);
  if (!source.ok()) {
    std::fprintf(stderr, "pcap-rtt: %s\n", std::string(source.status().message()).c_str());
    return 1;
  }
  PassiveRtt* tracker = rtt->get();
  auto n = tracker->DispatchFrom(source->get(), 0);
  if (!n.ok()) {
    std::fprintf(stderr, "pcap-rtt: %s\n", std::string(n.status().message()).c_str());
    return 1;
  }
  tracker->Flush();
  const std::vector<ClientPrefixWindow> windows = aggregator.TakeAll();
  const auto& stats = tracker->stats();

  if (args.json) {
    nlohmann::json out;
    out["file"] = args.file;
    out["pseudonymised"] = anonymize;
    out["prefixes"] = nlohmann::json::array();
    for (const ClientPrefixWindow& w : windows) {
      nlohmann::json rows = nlohmann::json::array();
      for (int m = 0; m < vantage::probe::kRttMethodCount; ++m) {
        for (int l = 0; l < vantage::probe::kRttLegCount; ++l) {
          const auto& sketch = w.rtt_us[static_cast<size_t>(m)][static_cast<size_t>(l)];
          if (sketch.empty()) continue;
          rows.push_back({{"method", RttMethodName(static_cast<RttMethod>(m))},
                          {"leg", RttLegName(static_cast<RttLeg>(l))},
                          {"samples", sketch.count()},
                          {"min_us", sketch.min()},
                          {"p50_us", sketch.Quantile(0.5)},
                          {"p90_us", sketch.Quantile(0.9)},
                          {"p99_us", sketch.Quantile(0.99)},
                          {"max_us", sketch.max()}});
        }
      }
      out["prefixes"].push_back({{"prefix", w.client_prefix.ToString()},
                                 {"flows", w.flows},
                                 {"packets", w.packets},
                                 {"bytes", w.bytes},
                                 {"rtt", rows}});
    }
    out["stats"] = StatsJson(stats);
    if (args.per_sample) {
      out["samples"] = nlohmann::json::array();
      for (const RttSample& s : sink.samples()) {
        out["samples"].push_back({{"time_ns", absl::ToUnixNanos(s.time)},
                                  {"rtt_us", absl::ToDoubleMicroseconds(s.rtt)},
                                  {"method", RttMethodName(s.method)},
                                  {"leg", RttLegName(s.leg)},
                                  {"flow_id", s.flow_id},
                                  {"client", s.client_address ? s.client_address->ToString()
                                                              : s.client_prefix.ToString()},
                                  {"client_port", s.client_port},
                                  {"server", s.server.ToString()}});
      }
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }

  std::printf("%-24s %-10s %-7s %8s %10s %10s %10s %10s %7s %9s %12s\n", "PREFIX", "METHOD", "LEG",
              "SAMPLES", "MIN_US", "P50_US", "P90_US", "P99_US", "FLOWS", "PACKETS", "BYTES");
  for (const ClientPrefixWindow& w : windows) {
    bool any = false;
    for (int m = 0; m < vantage::probe::kRttMethodCount; ++m) {
      for (int l = 0; l < vantage::probe::kRttLegCount; ++l) {
        const auto& sketch = w.rtt_us[static_cast<size_t>(m)][static_cast<size_t>(l)];
        if (sketch.empty()) continue;
        any = true;
        std::printf("%-24s %-10s %-7s %8llu %10s %10s %10s %10s %7llu %9llu %12llu\n",
                    w.client_prefix.ToString().c_str(), RttMethodName(static_cast<RttMethod>(m)),
                    RttLegName(static_cast<RttLeg>(l)),
                    static_cast<unsigned long long>(sketch.count()), Us(sketch.min()).c_str(),
                    Us(sketch.Quantile(0.5)).c_str(), Us(sketch.Quantile(0.9)).c_str(),
                    Us(sketch.Quantile(0.99)).c_str(), static_cast<unsigned long long>(w.flows),
                    static_cast<unsigned long long>(w.packets),
                    static_cast<unsigned long long>(w.bytes));
      }
    }
    if (!any) {
      std::printf("%-24s %-10s %-7s %8d %10s %10s %10s %10s %7llu %9llu %12llu\n",
                  w.client_prefix.ToString().c_str(), "-", "-", 0, "-", "-", "-", "-",
                  static_cast<unsigned long long>(w.flows),
                  static_cast<unsigned long long>(w.packets),
                  static_cast<unsigned long long>(w.bytes));
    }
  }
  std::printf(
      "\n%llu packets (%llu TCP, %llu other, %llu undecodable), %llu flows, samples: "
      "%llu handshake, %llu timestamp, %llu seq_ack; karn-discarded %llu, pending "
      "evicted %llu, expired %llu, flows evicted %llu, table-full %llu%s\n",
      static_cast<unsigned long long>(stats.packets),
      static_cast<unsigned long long>(stats.tcp_packets),
      static_cast<unsigned long long>(stats.non_tcp_packets),
      static_cast<unsigned long long>(stats.decode.Failures()),
      static_cast<unsigned long long>(stats.flows_created),
      static_cast<unsigned long long>(stats.samples[0]),
      static_cast<unsigned long long>(stats.samples[1]),
      static_cast<unsigned long long>(stats.samples[2]),
      static_cast<unsigned long long>(stats.karn_discarded),
      static_cast<unsigned long long>(stats.pending_evicted),
      static_cast<unsigned long long>(stats.pending_expired),
      static_cast<unsigned long long>(stats.flows_evicted_idle),
      static_cast<unsigned long long>(stats.flows_rejected_full),
      anonymize ? "; prefixes pseudonymised" : "");
  if (args.per_sample) {
    std::printf("\n%-20s %-10s %-7s %12s %8s %-40s %s\n", "TIME_NS", "METHOD", "LEG", "RTT_US",
                "FLOW", "CLIENT", "SERVER");
    for (const RttSample& s : sink.samples()) {
      const std::string client =
          (s.client_address ? s.client_address->ToString() : s.client_prefix.ToString()) + " :" +
          std::to_string(s.client_port);
      std::printf("%-20lld %-10s %-7s %12.3f %8llu %-40s %s\n",
                  static_cast<long long>(absl::ToUnixNanos(s.time)), RttMethodName(s.method),
                  RttLegName(s.leg), absl::ToDoubleMicroseconds(s.rtt),
                  static_cast<unsigned long long>(s.flow_id), client.c_str(),
                  s.server.ToString().c_str());
    }
  }
  return 0;
}

void SetupPcapRtt(CLI::App& app) {
  auto args = std::make_shared<PcapRttArgs>();
  auto* cmd =
      app.add_subcommand("pcap-rtt",
                         "Passive RTT per client prefix from a pcap/pcapng capture (TCP handshake, "
                         "timestamp echo, SEQ/ACK)");
  cmd->add_option("file", args->file, "Capture file (pcap or pcapng)")->required();
  cmd->add_flag("--json", args->json, "Print JSON instead of a table");
  cmd->add_flag("--per-sample", args->per_sample,
                "Also print every RTT sample with its flow (on-box debugging)");
  cmd->add_option("--prefix-len", args->prefix_len,
                  "Client aggregation lengths V4[/V6] (default 24/48)");
  cmd->add_option("--local", args->local, "Prefixes of our side (servers); others are clients")
      ->expected(1, -1);
  cmd->add_option("--local-port", args->local_ports, "Server ports of our side")->expected(1, -1);
  cmd->add_option("--anonymize-key-file", args->key_file,
                  "Pseudonymise client prefixes (Crypto-PAn) with the 32-byte key in this file "
                  "(64 hex digits)");
  cmd->add_option("--sketch-alpha", args->sketch_alpha,
                  "Relative accuracy of the reported quantiles (min and max are exact)")
      ->capture_default_str()
      ->check(CLI::Range(0.0001, 0.1));
  cmd->add_option("--filter", args->filter, "BPF filter applied to the capture");
  cmd->add_option("--sample-interval-ms", args->sample_interval_ms,
                  "Per-flow rate limit on timestamp/SEQ samples (default 0: every one)");
  cmd->callback([args] { vantagectl::SetExitCode(Run(*args)); });
}

VANTAGECTL_COMMAND(SetupPcapRtt);

}  // namespace
