// Prefix and Endpoint parsing read operator-supplied config and API input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "core/ip_address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto p = vantage::Prefix::Parse(text); p.ok()) {
    // Whatever parses must format to something that parses to the same value.
    auto again = vantage::Prefix::Parse(p->ToString());
    if (!again.ok() || *again != *p) std::abort();
    if (!p->Contains(p->address())) std::abort();
  }
  if (auto e = vantage::Endpoint::Parse(text, 53); e.ok()) {
    auto again = vantage::Endpoint::Parse(e->ToString());
    if (!again.ok() || *again != *e) std::abort();
  }
  return 0;
}
