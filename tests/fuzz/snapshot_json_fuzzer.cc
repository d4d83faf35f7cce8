// Graph snapshots are read from files an operator (or another system) hands
// to vantagectl and the collector: parse must never crash, and whatever
// parses must export and re-import to the same JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "graph/snapshot_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto g = vantage::graph::SnapshotFromJson(text);
  if (!g.ok()) return 0;
  const std::string once = vantage::graph::SnapshotToJson(*g);
  auto again = vantage::graph::SnapshotFromJson(once);
  if (!again.ok()) std::abort();
  if (vantage::graph::SnapshotToJson(*again) != once) std::abort();
  (void)g->ToDot();
  return 0;
}
