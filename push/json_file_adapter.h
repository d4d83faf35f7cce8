// JsonFileAdapter: writes the full intended state (IntendedStateToJson) to a
// file for other automation. Atomic: written to "<path>.tmp.<pid>", fsynced,
// renamed over <path>, and the directory fsynced, so a reader sees either the
// old or the new file, never a torn one.
//
// Thread model: callers serialise Apply().
#pragma once

#include <string>

#include "push/router_adapter.h"

namespace vantage::push {

class JsonFileAdapter final : public RouterAdapter {
 public:
  explicit JsonFileAdapter(std::string path) : path_(std::move(path)) {}
  absl::Status Apply(const IntendedState& state) override;
  std::string name() const override { return "json-file"; }

 private:
  std::string path_;
};

// Atomically replaces `path` with `contents` (temp file, fsync, rename, fsync dir).
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace vantage::push
