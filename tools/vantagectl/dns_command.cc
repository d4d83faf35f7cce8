// `vantagectl dns`: dnsping-like timing of one name at one server — one line
// per query (seq, rcode, time, NSID/CHAOS identity), then min/p50/p90/p99/max,
// loss and the catchments seen. --json prints the same fields.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "core/event_loop.h"
#include "core/ip_address.h"
#include "core/quantile_sketch.h"
#include "resolver/dns_aggregator.h"
#include "resolver/dns_prober.h"
#include "resolver/dns_question.h"
#include "resolver/dns_response.h"
#include "resolver/posix_dns_transport.h"
#include "tools/vantagectl/command.h"

namespace {

using vantage::resolver::DnsAggregator;
using vantage::resolver::DnsQueryResult;
using vantage::resolver::DnsQuestion;

struct DnsArgs {
  std::string server;
  std::string name;
  std::string type = "A";
  int count = 5;
  int interval_ms = 1000;
  int timeout_ms = 2000;
  int bufsize = 1232;
  bool nsid = false;
  bool chaos = false;
  bool no_rd = false;
  bool no_tcp = false;
  bool json = false;
};

struct Row {
  int seq = 0;  // 1-based position in this run (CHAOS queries take no number)
  DnsQueryResult result;
  std::optional<DnsQueryResult> chaos;
};

std::string TimeText(const vantage::resolver::DnsAttempt& a) {
  switch (a.outcome) {
    case vantage::resolver::DnsOutcome::kAnswer:
      return absl::StrFormat("%.1f us", absl::ToDoubleMicroseconds(a.time));
    case vantage::resolver::DnsOutcome::kTimeout:
      return "timeout";
    case vantage::resolver::DnsOutcome::kError:
      return "error: " + a.error;
  }
  return "";
}

nlohmann::json RowJson(const Row& row) {
  const DnsQueryResult& r = row.result;
  nlohmann::json j;
  j["seq"] = row.seq;
  j["outcome"] = vantage::resolver::DnsOutcomeName(r.outcome());
  if (r.answered()) {
    j["rcode"] = vantage::resolver::DnsRcodeName(r.rcode);
    j["answers"] = r.answer_count;
    j["size"] = r.response_size;
    j["transport"] = vantage::resolver::DnsTransportName(r.answered_over);
  } else {
    j["rcode"] = nullptr;
  }
  if (r.outcome() == vantage::resolver::DnsOutcome::kAnswer) {
    j["time_us"] = r.time_us();
    j["kernel_timestamp"] = r.udp.kernel_timestamp;
  } else {
    j["time_us"] = nullptr;
  }
  if (r.outcome() == vantage::resolver::DnsOutcome::kError) j["error"] = r.udp.error;
  j["truncated"] = r.truncated;
  if (r.tcp.has_value()) {
    j["tcp_outcome"] = vantage::resolver::DnsOutcomeName(r.tcp->outcome);
    j["tcp_time_us"] = r.tcp->outcome == vantage::resolver::DnsOutcome::kAnswer
                           ? nlohmann::json(absl::ToDoubleMicroseconds(r.tcp->time))
                           : nlohmann::json(nullptr);
  }
  j["nsid"] = r.nsid.has_value() ? nlohmann::json(vantage::resolver::PrintableNsid(*r.nsid))
                                 : nlohmann::json(nullptr);
  if (row.chaos.has_value()) {
    j["chaos"] = row.chaos->chaos_txt.has_value() ? nlohmann::json(*row.chaos->chaos_txt)
                                                  : nlohmann::json(nullptr);
  }
  std::string catchment = r.Catchment();
  if (catchment.empty() && row.chaos.has_value()) catchment = row.chaos->Catchment();
  j["catchment"] = catchment.empty() ? nlohmann::json(nullptr) : nlohmann::json(catchment);
  return j;
}

int RunDns(const DnsArgs& args) {
  auto server = vantage::Endpoint::Parse(args.server, 53);
  if (!server.ok()) {
    std::fprintf(stderr, "vantagectl dns: --server: %s\n", server.status().ToString().c_str());
    return 2;
  }
  auto type = vantage::resolver::ParseDnsType(args.type);
  if (!type.ok()) {
    std::fprintf(stderr, "vantagectl dns: --type: %s\n", type.status().ToString().c_str());
    return 2;
  }
  auto name = vantage::resolver::NormalizeDnsName(args.name);
  if (!name.ok()) {
    std::fprintf(stderr, "vantagectl dns: --name: %s\n", name.status().ToString().c_str());
    return 2;
  }
  if (args.count < 1 || args.interval_ms < 0 || args.timeout_ms < 1 || args.bufsize < 512 ||
      args.bufsize > 65535) {
    std::fprintf(stderr,
                 "vantagectl dns: need --count >= 1, --interval >= 0, --timeout >= 1, "
                 "512 <= --bufsize <= 65535\n");
    return 2;
  }
  auto loop = vantage::EventLoop::Create();
  if (!loop.ok()) {
    std::fprintf(stderr, "vantagectl dns: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  vantage::resolver::PosixDnsTransport transport;
  vantage::resolver::DnsProberOptions options;
  options.timeout = absl::Milliseconds(args.timeout_ms);
  options.query.edns = true;
  options.query.edns_buffer_size = static_cast<uint16_t>(args.bufsize);
  options.query.nsid = args.nsid;
  options.query.recursion_desired = !args.no_rd;
  options.tcp_on_truncation = !args.no_tcp;
  auto prober = vantage::resolver::DnsProber::Create(loop->get(), &transport, options);
  if (!prober.ok()) {
    std::fprintf(stderr, "vantagectl dns: %s\n", prober.status().ToString().c_str());
    return 1;
  }

  const DnsQuestion question{*name, *type, vantage::resolver::kClassIn};
  const DnsQuestion chaos_question{"hostname.bind", vantage::resolver::kTypeTxt,
                                   vantage::resolver::kClassChaos};
  const absl::Time started = absl::Now();
  // One-shot: quantiles to 0.1% (the 1% report sketches can use up a 1%
  // accuracy budget on quantisation alone).
  DnsAggregator aggregator(started, /*sketch_alpha=*/0.001);
  std::vector<Row> rows(static_cast<size_t>(args.count));
  int finished = 0;
  int failed_sends = 0;
  const auto finish_one = [&] {
    if (++finished == args.count) (*loop)->Stop();
  };
  const auto print_row = [&](const Row& row) {
    if (args.json) return;
    const DnsQueryResult& r = row.result;
    std::string line = absl::StrFormat(
        "seq=%-4d %-9s %-16s", row.seq,
        r.answered() ? vantage::resolver::DnsRcodeName(r.rcode) : "-", TimeText(r.udp));
    if (r.answered()) {
      absl::StrAppendFormat(&line, " answers=%d %s", r.answer_count,
                            vantage::resolver::DnsTransportName(r.answered_over));
    }
    if (r.truncated) absl::StrAppend(&line, " TC");
    if (r.tcp.has_value()) absl::StrAppend(&line, " tcp=", TimeText(*r.tcp));
    if (r.nsid.has_value()) {
      absl::StrAppend(&line, " nsid=", vantage::resolver::PrintableNsid(*r.nsid));
    }
    if (row.chaos.has_value()) {
      absl::StrAppend(
          &line, " hostname.bind=", row.chaos->chaos_txt.has_value() ? *row.chaos->chaos_txt : "-");
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };

  for (int i = 0; i < args.count; ++i) {
    (*loop)->AddTimerAfter(absl::Milliseconds(static_cast<int64_t>(i) * args.interval_ms), [&, i] {
      auto sent = (*prober)->Query(*server, question, [&, i](const DnsQueryResult& r) {
        Row& row = rows[static_cast<size_t>(i)];
        row.seq = i + 1;
        row.result = r;
        aggregator.Add(r);
        if (!args.chaos) {
          print_row(row);
          finish_one();
          return;
        }
        auto chaos_sent =
            (*prober)->Query(*server, chaos_question, [&, i](const DnsQueryResult& c) {
              Row& chaos_row = rows[static_cast<size_t>(i)];
              chaos_row.chaos = c;
              print_row(chaos_row);
              finish_one();
            });
        if (!chaos_sent.ok()) {
          print_row(row);
          finish_one();
        }
      });
      if (!sent.ok()) {
        std::fprintf(stderr, "vantagectl dns: %s\n", sent.status().ToString().c_str());
        ++failed_sends;
        finish_one();
      }
    });
  }
  (*loop)->Run();

  auto windows = aggregator.CloseWindow(absl::Now());
  vantage::resolver::DnsWindowStats stats;
  if (!windows.empty()) stats = std::move(windows.front());
  // CHAOS answers name the instance when NSID did not.
  for (const Row& row : rows) {
    if (row.chaos.has_value() && row.result.Catchment().empty()) {
      const std::string c = row.chaos->Catchment();
      if (!c.empty() && row.result.answered()) {
        if (--stats.catchments[""] == 0) stats.catchments.erase("");
        ++stats.catchments[c];
      }
    }
  }
  const auto& hostile = (*prober)->hostile();
  const auto q = [&](double p) { return stats.time_us.empty() ? 0.0 : stats.time_us.Quantile(p); };

  const uint64_t errors = stats.errors + static_cast<uint64_t>(failed_sends);
  if (args.json) {
    nlohmann::json out;
    out["server"] = server->ToString();
    out["name"] = question.name;
    out["type"] = vantage::resolver::DnsTypeName(question.type);
    out["queries"] = nlohmann::json::array();
    for (const Row& row : rows) {
      if (row.seq != 0) out["queries"].push_back(RowJson(row));
    }
    nlohmann::json s;
    s["sent"] = stats.sent;
    s["answered"] = stats.answered;
    s["timeouts"] = stats.timeouts;
    s["errors"] = errors;
    s["loss"] = stats.loss();
    s["truncated"] = stats.truncated;
    s["tcp_retries"] = stats.tcp_retries;
    if (!stats.time_us.empty()) {
      s["min_us"] = stats.time_us.min();
      s["p50_us"] = q(0.5);
      s["p90_us"] = q(0.9);
      s["p99_us"] = q(0.99);
      s["max_us"] = stats.time_us.max();
    }
    nlohmann::json rcodes = nlohmann::json::object();
    for (const auto& [rcode, n] : stats.rcodes) rcodes[vantage::resolver::DnsRcodeName(rcode)] = n;
    s["rcodes"] = rcodes;
    nlohmann::json catchments = nlohmann::json::object();
    for (const auto& [c, n] : stats.catchments) catchments[c.empty() ? "(none)" : c] = n;
    s["catchments"] = catchments;
    s["catchment_flips"] = stats.flips.size();
    s["hostile"] = {{"wrong_id", hostile.wrong_id},
                    {"wrong_question", hostile.wrong_question},
                    {"garbage", hostile.garbage},
                    {"truncated", hostile.truncated},
                    {"oversized", hostile.oversized}};
    out["summary"] = s;
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("\n--- %s %s %s ---\n", server->ToString().c_str(), question.name.c_str(),
                vantage::resolver::DnsTypeName(question.type).c_str());
    std::printf("%llu sent, %llu answered, %llu timeouts, %llu errors, %.1f%% loss\n",
                static_cast<unsigned long long>(stats.sent),
                static_cast<unsigned long long>(stats.answered),
                static_cast<unsigned long long>(stats.timeouts),
                static_cast<unsigned long long>(errors), 100.0 * stats.loss());
    if (!stats.time_us.empty()) {
      std::printf("time us: min=%.1f p50=%.1f p90=%.1f p99=%.1f max=%.1f\n", stats.time_us.min(),
                  q(0.5), q(0.9), q(0.99), stats.time_us.max());
    }
    std::vector<std::string> parts;
    for (const auto& [rcode, n] : stats.rcodes) {
      parts.push_back(absl::StrCat(vantage::resolver::DnsRcodeName(rcode), "=", n));
    }
    std::printf("rcodes: %s\n", parts.empty() ? "-" : absl::StrJoin(parts, " ").c_str());
    parts.clear();
    for (const auto& [c, n] : stats.catchments) {
      parts.push_back(absl::StrCat(c.empty() ? "(none)" : c, "=", n));
    }
    std::printf("catchments: %s (%zu changes)\n",
                parts.empty() ? "-" : absl::StrJoin(parts, " ").c_str(), stats.flips.size());
    if (stats.truncated > 0) {
      std::printf("truncated: %llu, tcp retries answered: %llu\n",
                  static_cast<unsigned long long>(stats.truncated),
                  static_cast<unsigned long long>(stats.tcp_answered));
    }
    if (hostile.total() > 0) {
      std::printf(
          "hostile answers dropped: wrong_id=%llu wrong_question=%llu garbage=%llu "
          "truncated=%llu oversized=%llu\n",
          static_cast<unsigned long long>(hostile.wrong_id),
          static_cast<unsigned long long>(hostile.wrong_question),
          static_cast<unsigned long long>(hostile.garbage),
          static_cast<unsigned long long>(hostile.truncated),
          static_cast<unsigned long long>(hostile.oversized));
    }
  }
  return stats.answered == 0 ? 1 : 0;
}

void SetupDns(CLI::App& app) {
  auto args = std::make_shared<DnsArgs>();
  auto* cmd = app.add_subcommand("dns", "Time DNS queries to one server (like dnsping)");
  cmd->add_option("--server", args->server, "ADDR[:PORT] ([v6]:port), port 53 by default")
      ->required();
  cmd->add_option("--name", args->name, "Query name")->required();
  cmd->add_option("--type", args->type, "Query type (A, AAAA, TXT, ... or TYPEnn)");
  cmd->add_option("--count", args->count, "Number of queries")->check(CLI::PositiveNumber);
  cmd->add_option("--interval", args->interval_ms, "Milliseconds between queries");
  cmd->add_option("--timeout", args->timeout_ms, "Milliseconds before a query times out");
  cmd->add_option("--bufsize", args->bufsize, "EDNS UDP buffer size to advertise");
  cmd->add_flag("--nsid", args->nsid, "Ask for the EDNS NSID of the answering instance");
  cmd->add_flag("--chaos", args->chaos, "Also ask CHAOS TXT hostname.bind after each query");
  cmd->add_flag("--no-rd", args->no_rd, "Clear the recursion-desired bit");
  cmd->add_flag("--no-tcp", args->no_tcp, "Do not retry truncated answers over TCP");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args] { vantagectl::SetExitCode(RunDns(*args)); });
}

VANTAGECTL_COMMAND(SetupDns);

}  // namespace
