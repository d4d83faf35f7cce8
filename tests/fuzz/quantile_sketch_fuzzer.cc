// Sketches arrive from probes over the network: Deserialize is untrusted input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/quantile_sketch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = vantage::QuantileSketch::Deserialize(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!s.ok()) return 0;
  // Whatever is accepted must behave: re-encode identically, answer in range.
  if (s->Serialize() != absl::string_view(reinterpret_cast<const char*>(data), size)) std::abort();
  if (!s->empty()) {
    const double q = s->Quantile(0.5);
    if (!(q >= s->min() && q <= s->max())) std::abort();
  }
  vantage::QuantileSketch copy = *s;
  if (!copy.Merge(*s).ok() || copy.count() != 2 * s->count()) std::abort();
  return 0;
}
