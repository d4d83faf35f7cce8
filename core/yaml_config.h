// Strict YAML config helpers: every error names file:line:column, unknown
// keys are errors, and yaml-cpp's exceptions never escape.
//
//   VANTAGE_ASSIGN_OR_RETURN(YamlDoc doc, YamlDoc::Load(path));
//   VANTAGE_RETURN_IF_ERROR(doc.CheckKeys(doc.root(), {"listen", "probes"}));
//   VANTAGE_ASSIGN_OR_RETURN(std::string listen, doc.String(doc.root(), "listen", "0.0.0.0:7443"));
//
// Thread model: a YamlDoc is used by one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace vantage {

// "10s", "500ms", "2m", "1h", "7d" (absl::ParseDuration plus days).
absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text);

class YamlDoc {
 public:
  static absl::StatusOr<YamlDoc> Load(const std::string& path);
  // For tests and embedded defaults; `name` stands in for the file name.
  static absl::StatusOr<YamlDoc> Parse(const std::string& text, const std::string& name);

  const YAML::Node& root() const { return root_; }
  const std::string& name() const { return name_; }

  // "file:line:column" of `node` (1-based).
  std::string Where(const YAML::Node& node) const;
  absl::Status Error(const YAML::Node& node, absl::string_view message) const;

  // `node` must be a map (or absent/null) whose keys are all in `allowed`.
  absl::Status CheckKeys(const YAML::Node& node,
                         std::initializer_list<absl::string_view> allowed) const;

  // Typed reads of node[key] with a default when the key is absent; a value
  // of the wrong type is an error at its position.
  absl::StatusOr<std::string> String(const YAML::Node& node, const char* key,
                                     const std::string& fallback) const;
  absl::StatusOr<int64_t> Int(const YAML::Node& node, const char* key, int64_t fallback,
                              int64_t min, int64_t max) const;
  absl::StatusOr<double> Double(const YAML::Node& node, const char* key, double fallback,
                                double min, double max) const;
  absl::StatusOr<bool> Bool(const YAML::Node& node, const char* key, bool fallback) const;
  absl::StatusOr<absl::Duration> Duration(const YAML::Node& node, const char* key,
                                          absl::Duration fallback) const;

 private:
  YamlDoc(const YAML::Node& root, std::string name) : root_(root), name_(std::move(name)) {}
  YAML::Node root_;
  std::string name_;
};

}  // namespace vantage
