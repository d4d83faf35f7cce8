// Test helpers: DNS answers built from a query's bytes, for fake servers in
// unit and integration tests.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace vantage::resolver::testing {

struct FakeAnswer {
  uint8_t rcode = 0;
  uint8_t extended_rcode = 0;  // the OPT RR's upper 8 bits (needs `opt`)
  bool tc = false;
  std::vector<std::array<uint8_t, 4>> a_records;
  // TXT strings, one record (owner: the question's name).
  std::optional<std::vector<std::string>> txt;
  bool opt = true;
  std::optional<std::string> nsid;  // needs `opt`
  // Pads the additional section with an unknown RR of this many bytes.
  size_t padding = 0;
};

// Length of the header plus question of a query we built (no compression).
size_t QueryHeaderAndQuestionLength(absl::Span<const uint8_t> query);
std::vector<uint8_t> MakeAnswer(absl::Span<const uint8_t> query, const FakeAnswer& answer);

}  // namespace vantage::resolver::testing
