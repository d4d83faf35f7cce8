// FakeRouterAdapter: records every applied state; can be told to fail.
// Thread model: single-threaded, like its callers.
#pragma once

#include <string>
#include <vector>

#include "push/router_adapter.h"

namespace vantage::push {

class FakeRouterAdapter final : public RouterAdapter {
 public:
  absl::Status Apply(const IntendedState& state) override {
    if (!fail_with.ok()) return fail_with;
    applied.push_back(state);
    return absl::OkStatus();
  }
  std::string name() const override { return "fake"; }

  absl::Status fail_with = absl::OkStatus();
  std::vector<IntendedState> applied;
};

}  // namespace vantage::push
