// Builders of valid probe reports for collector tests.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "core/quantile_sketch.h"
#include "proto/vantage.pb.h"

namespace vantage::collector::testing {

inline std::string ReportId(int n) {
  std::string id(16, '\0');
  for (int i = 0; i < 4; ++i) id[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return id;
}

// A valid report from `probe` at `pop` for the 10 s window ending at `end`,
// with `targets` active series.
inline v1::ProbeReport MakeReport(const std::string& probe, const std::string& pop, int id,
                                  absl::Time end, int targets = 2) {
  v1::ProbeReport r;
  r.set_schema_version(1);
  r.set_report_id(ReportId(id));
  r.set_probe_id(probe);
  r.set_pop(pop);
  r.set_window_start_unix_ns(absl::ToUnixNanos(end - absl::Seconds(10)));
  r.set_window_end_unix_ns(absl::ToUnixNanos(end));
  QuantileSketch sketch;
  for (double us : {1000.0, 1100.0, 1300.0}) sketch.Add(us);
  for (int t = 0; t < targets; ++t) {
    auto* a = r.add_active();
    a->set_target("198.18.1." + std::to_string(t % 250 + 1));
    a->set_method(v1::METHOD_ICMP);
    a->set_flow(static_cast<uint32_t>(t / 250));
    a->set_sent(3);
    a->set_received(3);
    a->set_min_rtt_us(1000);
    a->set_rtt_sketch(sketch.Serialize());
  }
  auto* p = r.add_passive();
  p->set_client_prefix("198.18.64.0/24");
  p->set_method(v1::METHOD_PASSIVE_HANDSHAKE);
  p->set_samples(3);
  p->set_rtt_sketch(sketch.Serialize());
  auto* d = r.add_dns();
  d->set_server("198.18.0.53:53");
  d->set_qname("example.lab.");
  d->set_qtype("A");
  d->set_sent(3);
  d->set_time_sketch(sketch.Serialize());
  (*d->mutable_rcodes())["NOERROR"] = 3;
  return r;
}

}  // namespace vantage::collector::testing
