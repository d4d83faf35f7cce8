// `vantagectl push history|freeze|thaw|dry-run`:
//   history --db FILE [--limit N] [--json]   the push audit log (push_audit table)
//   freeze --flag FILE [--reason TEXT]        create the freeze flag file the
//   thaw --flag FILE                          control loop's Pusher reads
//                                             (guardrails.freeze_file) / remove it
//   dry-run --model M.yaml --input SNAP.json [--current STATE.json]
//                                             optimise the snapshot, print the
//                                             routes' diff against the current
//                                             state (a JSON adapter file) and the
//                                             guardrails' verdict; changes nothing
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "collector/push_model.h"
#include "graph/snapshot_json.h"
#include "nlohmann/json.hpp"
#include "optimizer/weight_optimizer.h"
#include "push/audit_log.h"
#include "push/guardrails.h"
#include "push/intended_state.h"
#include "tools/vantagectl/command.h"

namespace {

int Fail(const char* what, const absl::Status& st) {
  std::fprintf(stderr, "vantagectl push %s: %s\n", what, std::string(st.message()).c_str());
  vantagectl::SetExitCode(1);
  return 1;
}

struct PushArgs {
  std::string db, flag, reason = "frozen by vantagectl", model, input, current;
  int limit = 20;
  bool json = false;
};

void History(const PushArgs& a) {
  auto log = vantage::push::AuditLog::Open(a.db);
  if (!log.ok()) return (void)Fail("history", log.status());
  auto recs = (*log)->Recent(a.limit);
  if (!recs.ok()) return (void)Fail("history", recs.status());
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : *recs) {
      j.push_back({{"id", r.id},
                   {"time", absl::FormatTime(absl::RFC3339_full, r.time, absl::UTCTimeZone())},
                   {"trigger", r.trigger},
                   {"inputs_digest", r.inputs_digest},
                   {"result", r.result},
                   {"reason", r.reason},
                   {"diff", r.diff},
                   {"state", nlohmann::json::parse(r.state_json, nullptr, false)}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("%-5s %-25s %-10s %-12s %-14s %s\n", "id", "time (UTC)", "trigger", "inputs",
              "result", "reason");
  for (const auto& r : *recs) {
    std::printf("%-5lld %-25s %-10s %-12s %-14s %s\n", static_cast<long long>(r.id),
                absl::FormatTime("%Y-%m-%d %H:%M:%E3S", r.time, absl::UTCTimeZone()).c_str(),
                r.trigger.c_str(), r.inputs_digest.substr(0, 12).c_str(), r.result.c_str(),
                r.reason.c_str());
    std::istringstream diff(r.diff);
    for (std::string line; std::getline(diff, line);) std::printf("      %s\n", line.c_str());
  }
}

void DryRun(const PushArgs& a) {
  auto model = vantage::collector::LoadPushModel(a.model);
  if (!model.ok()) return (void)Fail("dry-run", model.status());
  auto g = vantage::graph::ReadSnapshotFile(a.input);
  if (!g.ok()) return (void)Fail("dry-run", g.status());
  vantage::push::IntendedState current;
  if (!a.current.empty()) {
    std::ifstream in(a.current);
    std::stringstream ss;
    ss << in.rdbuf();
    auto s = vantage::push::IntendedStateFromJson(ss.str());
    if (!s.ok()) return (void)Fail("dry-run", s.status());
    current = *s;
    if (auto st = vantage::collector::SetCurrentWeights(*model, current, *g); !st.ok()) {
      return (void)Fail("dry-run", st);
    }
  }
  auto r =
      vantage::optimizer::Optimize(*g, vantage::optimizer::OptimizerConfig{}, g->snapshot_time());
  if (!r.ok()) return (void)Fail("dry-run", r.status());
  auto proposed = vantage::collector::IntendedStateFor(*model, *g, *r);
  if (!proposed.ok()) return (void)Fail("dry-run", proposed.status());
  auto gone = vantage::push::WithdrawnEverywhere(current, *proposed);
  auto stepped =
      vantage::push::LimitWeightShift(current, *proposed, model->guardrails.max_weight_shift);
  auto diff = vantage::push::Diff(current, stepped);
  std::printf("dry run: nothing was pushed\n%s", vantage::push::DiffText(diff).c_str());
  if (diff.empty()) std::printf("(no change)\n");
  if (!gone.empty()) {
    std::printf("REFUSED: would withdraw from every PoP: %s\n", absl::StrJoin(gone, ", ").c_str());
  } else if (stepped != *proposed) {
    std::printf("stepped: max weight shift per push %.4f\n", model->guardrails.max_weight_shift);
  }
  if (vantage::push::FreezeFile::IsFrozen(model->guardrails.freeze_file)) {
    std::printf("FROZEN: %s exists\n", model->guardrails.freeze_file.c_str());
  }
}

void SetupPush(CLI::App& app) {
  auto a = std::make_shared<PushArgs>();
  auto* cmd = app.add_subcommand("push", "Push audit log, freeze switch, dry run");
  cmd->require_subcommand(1);
  auto* history = cmd->add_subcommand("history", "Recent pushes from the audit log");
  history->add_option("--db", a->db, "SQLite file holding push_audit")->required();
  history->add_option("--limit", a->limit, "How many")->capture_default_str();
  history->add_flag("--json", a->json, "Machine-readable output");
  history->callback([a] { History(*a); });
  auto* freeze = cmd->add_subcommand("freeze", "Freeze pushing (creates the flag file)");
  freeze->add_option("--flag", a->flag, "guardrails.freeze_file")->required();
  freeze->add_option("--reason", a->reason, "Why (stored in the file)");
  freeze->callback([a] {
    if (auto st = vantage::push::FreezeFile::Freeze(a->flag, a->reason); !st.ok()) {
      Fail("freeze", st);
    } else {
      std::printf("frozen: %s\n", a->flag.c_str());
    }
  });
  auto* thaw = cmd->add_subcommand("thaw", "Thaw pushing (removes the flag file)");
  thaw->add_option("--flag", a->flag, "guardrails.freeze_file")->required();
  thaw->callback([a] {
    if (auto st = vantage::push::FreezeFile::Thaw(a->flag); !st.ok()) {
      Fail("thaw", st);
    } else {
      std::printf("thawed: %s\n", a->flag.c_str());
    }
  });
  auto* dry = cmd->add_subcommand("dry-run", "Optimise a snapshot and print the push diff");
  dry->add_option("--model", a->model, "Push model YAML")->required();
  dry->add_option("--input", a->input, "Snapshot JSON")->required();
  dry->add_option("--current", a->current, "Current state (JSON adapter file)");
  dry->callback([a] { DryRun(*a); });
}

VANTAGECTL_COMMAND(SetupPush);

}  // namespace
