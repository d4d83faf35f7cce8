// RouterAdapter: the boundary between Vantage and whatever makes routers
// use the weights (a BGP speaker, a file other automation reads, a fake).
//
// Apply() makes the routers' state equal to `state` (the full intended state,
// not a delta: adapters compute their own deltas). On error the adapter
// may have applied part of it; the caller keeps its last good state and
// re-applies it (Apply is idempotent).
//
// Thread model: callers serialise Apply(); implementations document any
// threads of their own.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "push/intended_state.h"

namespace vantage::push {

class RouterAdapter {
 public:
  virtual ~RouterAdapter() = default;
  [[nodiscard]] virtual absl::Status Apply(const IntendedState& state) = 0;
  virtual std::string name() const = 0;
};

}  // namespace vantage::push
