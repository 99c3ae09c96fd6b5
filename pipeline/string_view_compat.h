// File: pipeline/string_view_compat.h
//
// Debian 12's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so absl::StrCat and friends do not take a
// std::string_view. Av() converts at the call, without copying:
//
//   absl::StrCat("stage \"", Av(stage_name), "\"");
//
// Header-only; no state.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace sluice {

inline absl::string_view Av(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace sluice
