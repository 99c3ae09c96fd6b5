// File: pipeline/status_macros.h
//
// SLUICE_RETURN_IF_ERROR and SLUICE_ASSIGN_OR_RETURN: early returns on a
// non-OK absl::Status / absl::StatusOr, as Abseil's status_macros.h (not in
// the Abseil that Debian 12 ships).
//
//   absl::StatusOr<Offset> ParseOffset(std::string_view text);
//   SLUICE_ASSIGN_OR_RETURN(Offset start, ParseOffset(flag));
//   SLUICE_RETURN_IF_ERROR(sink.Flush());
//
// Header-only; no state.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SLUICE_INTERNAL_CONCAT2(a, b) a##b
#define SLUICE_INTERNAL_CONCAT(a, b) SLUICE_INTERNAL_CONCAT2(a, b)

#define SLUICE_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status sluice_status_ = (expr); !sluice_status_.ok()) { \
      return sluice_status_;                                          \
    }                                                                 \
  } while (false)

#define SLUICE_ASSIGN_OR_RETURN(lhs, expr) \
  SLUICE_INTERNAL_ASSIGN_OR_RETURN(SLUICE_INTERNAL_CONCAT(sluice_statusor_, __LINE__), lhs, expr)

#define SLUICE_INTERNAL_ASSIGN_OR_RETURN(statusor, lhs, expr) \
  auto statusor = (expr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()
