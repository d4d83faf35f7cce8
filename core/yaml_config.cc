#include "core/yaml_config.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vantage {

absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text) {
  absl::Duration d;
  if (absl::EndsWith(text, "d")) {
    double days = 0;
    if (absl::SimpleAtod(text.substr(0, text.size() - 1), &days) && days >= 0 &&
        std::isfinite(days)) {
      return absl::Hours(24) * days;
    }
  } else if (absl::ParseDuration(text, &d) && d >= absl::ZeroDuration() &&
             d != absl::InfiniteDuration()) {
    return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad duration '", text, "' (want e.g. 500ms, 10s, 5m, 1h, 7d)"));
}

absl::StatusOr<YamlDoc> YamlDoc::Load(const std::string& path) {
  try {
    return YamlDoc(YAML::LoadFile(path), path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read file"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

absl::StatusOr<YamlDoc> YamlDoc::Parse(const std::string& text, const std::string& name) {
  try {
    return YamlDoc(YAML::Load(text), name);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
}

std::string YamlDoc::Where(const YAML::Node& node) const {
  const YAML::Mark m = node.Mark();
  if (m.is_null()) return name_;
  return absl::StrCat(name_, ":", m.line + 1, ":", m.column + 1);
}

absl::Status YamlDoc::Error(const YAML::Node& node, absl::string_view message) const {
  return absl::InvalidArgumentError(absl::StrCat(Where(node), ": ", message));
}

absl::Status YamlDoc::CheckKeys(const YAML::Node& node,
                                std::initializer_list<absl::string_view> allowed) const {
  if (!node || node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return Error(node, "expected a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>("");
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Error(kv.first, absl::StrCat("unknown key '", key,
                                          "' (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> YamlDoc::String(const YAML::Node& node, const char* key,
                                            const std::string& fallback) const {
  const YAML::Node v = node[key];
  if (!v) return fallback;
  if (!v.IsScalar()) return Error(v, absl::StrCat("'", key, "' must be a string"));
  return v.Scalar();
}

absl::StatusOr<int64_t> YamlDoc::Int(const YAML::Node& node, const char* key, int64_t fallback,
                                     int64_t min, int64_t max) const {
  const YAML::Node v = node[key];
  if (!v) return fallback;
  int64_t out = 0;
  if (!v.IsScalar() || !absl::SimpleAtoi(v.Scalar(), &out)) {
    return Error(v, absl::StrCat("'", key, "' must be an integer"));
  }
  if (out < min || out > max) {
    return Error(v, absl::StrCat("'", key, "' must be in [", min, ", ", max, "]"));
  }
  return out;
}

absl::StatusOr<double> YamlDoc::Double(const YAML::Node& node, const char* key, double fallback,
                                       double min, double max) const {
  const YAML::Node v = node[key];
  if (!v) return fallback;
  double out = 0;
  if (!v.IsScalar() || !absl::SimpleAtod(v.Scalar(), &out) || !std::isfinite(out)) {
    return Error(v, absl::StrCat("'", key, "' must be a number"));
  }
  if (out < min || out > max) {
    return Error(v, absl::StrCat("'", key, "' must be in [", min, ", ", max, "]"));
  }
  return out;
}

absl::StatusOr<bool> YamlDoc::Bool(const YAML::Node& node, const char* key, bool fallback) const {
  const YAML::Node v = node[key];
  if (!v) return fallback;
  if (v.IsScalar()) {
    const std::string& s = v.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  return Error(v, absl::StrCat("'", key, "' must be true or false"));
}

absl::StatusOr<absl::Duration> YamlDoc::Duration(const YAML::Node& node, const char* key,
                                                 absl::Duration fallback) const {
  const YAML::Node v = node[key];
  if (!v) return fallback;
  if (!v.IsScalar()) return Error(v, absl::StrCat("'", key, "' must be a duration"));
  auto d = ParseDurationText(v.Scalar());
  if (!d.ok()) return Error(v, d.status().message());
  return *d;
}

}  // namespace vantage
