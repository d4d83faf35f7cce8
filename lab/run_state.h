// RunState: what a running lab has made, written to <run dir>/state.json
// before each thing is made, so that `vantage-lab down` can remove all of it
// even after `up` or the emulator crashed half-way.
//
// Thread model: plain value; Save/Load do blocking file I/O.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vantage::lab {

struct RecordedProcess {
  std::string role;  // "emulator", "nsd", "tcp-listener"
  std::string node;  // the lab node it serves ("" for the emulator)
  pid_t pid = 0;
  uint64_t start_time = 0;  // see ProcessStartTime
};

struct RunState {
  std::string prefix;
  std::string topology_path;
  std::vector<std::string> namespaces;
  std::vector<RecordedProcess> processes;

  // Atomic replace (write a temporary file, then rename).
  [[nodiscard]] absl::Status Save(const std::string& path) const;
  static absl::StatusOr<RunState> Load(const std::string& path);
};

}  // namespace vantage::lab
