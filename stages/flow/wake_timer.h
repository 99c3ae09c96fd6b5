// File: stages/flow/wake_timer.h
//
// A WakeTimer keeps one wake-up asked for at a time for a stage that holds
// events until a time (batch timeouts, delays, a rate limit's next token):
// asking for a time at or after a pending wake costs nothing, so a stage can
// ask on every event without filling the scheduler's timer queue.
//
//   timer_.At(group.opened + timeout_, now);   // in HandleEvents()
//   ...
//   // HandleWake(): release what is due, then ask for the next due time.
//
// Thread-compatible: used by one stage instance.
#pragma once

#include <algorithm>

#include "absl/time/time.h"

#include "pipeline/stage.h"

namespace sluice::stages {

class WakeTimer {
 public:
  // `context` must outlive the timer (a stage's StageContext does).
  explicit WakeTimer(const StageContext& context) : context_(context) {}

  // Makes sure the stage gets HandleWake() at `due` or soon after; `now` is
  // the stage's clock.
  void At(absl::Time due, absl::Time now) {
    // A wake is pending (not yet fired) at or before `due`: it will come
    // first, and the stage asks again for what is left then.
    if (pending_ > now && pending_ <= due) return;
    pending_ = due;
    context_.WakeAfter(std::max(absl::ZeroDuration(), due - now));
  }

 private:
  const StageContext& context_;
  absl::Time pending_ = absl::InfinitePast();
};

}  // namespace sluice::stages
