// File: pipeline/clock.h
//
// Clock is where the runtime reads the time for restart intensity windows and
// retry deadlines, so tests can inject a fake one instead of sleeping.
//
// Thread-safe: implementations must allow concurrent Now() calls.
#pragma once

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sluice {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The wall clock (absl::Now()).
class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance; never destroyed.
  static const Clock& Get();
};

}  // namespace sluice
