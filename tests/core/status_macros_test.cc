#include "core/status_macros.h"

#include <gtest/gtest.h>

namespace vantage {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  VANTAGE_ASSIGN_OR_RETURN(int half, Half(x));
  VANTAGE_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int x, int* evaluations) {
  ++*evaluations;
  return x % 2 == 0 ? absl::OkStatus() : absl::OutOfRangeError("odd");
}

absl::Status Both(int a, int b, int* evaluations) {
  VANTAGE_RETURN_IF_ERROR(CheckEven(a, evaluations));
  VANTAGE_RETURN_IF_ERROR(CheckEven(b, evaluations));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(3).status().message(), "odd");
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstErrorAndEvaluatesOnce) {
  int evaluations = 0;
  EXPECT_TRUE(Both(2, 4, &evaluations).ok());
  EXPECT_EQ(evaluations, 2);
  evaluations = 0;
  EXPECT_EQ(Both(1, 4, &evaluations).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(evaluations, 1);
}

TEST(StatusMacrosTest, WorksWithMoveOnlyValues) {
  auto make = []() -> absl::StatusOr<std::unique_ptr<int>> { return std::make_unique<int>(7); };
  auto use = [&]() -> absl::StatusOr<int> {
    VANTAGE_ASSIGN_OR_RETURN(std::unique_ptr<int> p, make());
    return *p;
  };
  EXPECT_EQ(*use(), 7);
}

}  // namespace
}  // namespace vantage
