#include "push/guardrails.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "push/json_file_adapter.h"

namespace vantage::push {

absl::Status ValidateGuardrailConfig(const GuardrailConfig& c) {
  if (!(c.max_weight_shift > 0 && c.max_weight_shift <= 1)) {
    return absl::InvalidArgumentError("max_weight_shift must be in (0, 1]");
  }
  if (c.min_interval < absl::ZeroDuration() || c.max_telemetry_age <= absl::ZeroDuration() ||
      c.rollback_hold < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("durations must not be negative");
  }
  if (!(c.rollback_margin > 0)) return absl::InvalidArgumentError("rollback_margin must be > 0");
  return absl::OkStatus();
}

IntendedState LimitWeightShift(const IntendedState& last_good, const IntendedState& proposed,
                               double max_shift) {
  IntendedState out = proposed;
  for (auto& p : out.prefixes) {
    const PrefixIntent* old = nullptr;
    for (const auto& q : last_good.prefixes) {
      if (q.prefix == p.prefix) old = &q;
    }
    if (old == nullptr) continue;
    auto old_weight = [&](const std::string& pop) {
      for (const auto& r : old->routes) {
        if (r.pop == pop) return r.weight;
      }
      return 0.0;
    };
    // Old routes that the proposal drops are carried as weight-0 routes.
    for (const auto& r : old->routes) {
      bool found = false;
      for (const auto& n : p.routes) found = found || n.pop == r.pop;
      if (!found) {
        PopRoute z = r;
        z.weight = 0;
        p.routes.push_back(z);
      }
    }
    double shift = 0;
    for (const auto& r : p.routes) shift = std::max(shift, std::abs(r.weight - old_weight(r.pop)));
    if (shift <= max_shift) continue;
    const double t = max_shift / shift;
    for (auto& r : p.routes) {
      const double w0 = old_weight(r.pop);
      r.weight = w0 + t * (r.weight - w0);
      if (r.weight < 1e-12) r.weight = 0;
    }
  }
  Canonicalize(out);
  return out;
}

std::vector<std::string> WithdrawnEverywhere(const IntendedState& last_good,
                                             const IntendedState& proposed) {
  std::vector<std::string> out = PrefixesWithdrawnEverywhere(proposed);
  std::set<std::string> present;
  for (const auto& p : proposed.prefixes) present.insert(p.prefix.ToString());
  for (const auto& p : last_good.prefixes) {
    bool announced = false;
    for (const auto& r : p.routes) announced = announced || r.weight > 0;
    if (announced && !present.contains(p.prefix.ToString())) out.push_back(p.prefix.ToString());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> CheckLoads(const std::map<std::string, PopLoadExpectation>& predicted,
                                    const std::map<std::string, double>& observed, double margin) {
  std::vector<std::string> out;
  for (const auto& [pop, e] : predicted) {
    auto it = observed.find(pop);
    if (it == observed.end()) continue;
    if (std::abs(it->second - e.predicted) > margin * e.capacity) {
      out.push_back(absl::StrFormat("%s: observed %.3f, predicted %.3f (capacity %.3f)", pop,
                                    it->second, e.predicted, e.capacity));
    }
  }
  return out;
}

bool FreezeFile::IsFrozen(const std::string& path) {
  return !path.empty() && access(path.c_str(), F_OK) == 0;
}

absl::Status FreezeFile::Freeze(const std::string& path, const std::string& reason) {
  if (path.empty()) return absl::InvalidArgumentError("no freeze file configured");
  return WriteFileAtomically(path, reason + "\n");
}

absl::Status FreezeFile::Thaw(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("no freeze file configured");
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("unlink ", path));
  }
  return absl::OkStatus();
}

}  // namespace vantage::push
