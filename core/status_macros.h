// Early-return helpers over absl::Status / absl::StatusOr, which Debian 12's
// Abseil (20220623) does not ship. Defined once here; use them everywhere.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VANTAGE_INTERNAL_CONCAT_INNER(a, b) a##b
#define VANTAGE_INTERNAL_CONCAT(a, b) VANTAGE_INTERNAL_CONCAT_INNER(a, b)

// Evaluates `expr` (an absl::Status) once; returns it from the enclosing
// function if it is not OK.
#define VANTAGE_RETURN_IF_ERROR(expr)                \
  do {                                               \
    ::absl::Status vantage_internal_status = (expr); \
    if (!vantage_internal_status.ok()) {             \
      return vantage_internal_status;                \
    }                                                \
  } while (false)

// `VANTAGE_ASSIGN_OR_RETURN(auto x, MakeX());` evaluates the StatusOr once;
// on error returns its status, otherwise moves the value into `lhs`.
#define VANTAGE_ASSIGN_OR_RETURN(lhs, rexpr)                                                   \
  VANTAGE_INTERNAL_ASSIGN_OR_RETURN(VANTAGE_INTERNAL_CONCAT(vantage_statusor_, __LINE__), lhs, \
                                    rexpr)

// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration.
#define VANTAGE_INTERNAL_ASSIGN_OR_RETURN(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                      \
  if (!statusor.ok()) {                                         \
    return std::move(statusor).status();                        \
  }                                                             \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)
