// File: pipeline/supervisor.h
//
// A Supervisor restarts crashed children by an OTP strategy and gives up when
// they crash too often. sluice's supervision tree has two levels: the
// pipeline's supervisor, whose children are the stages in start order
// (sources first), and one supervisor per stage, whose children are its
// instances. A stage supervisor that gives up escalates: to the pipeline's
// supervisor, its whole stage crashed. The pipeline's supervisor giving up
// stops the pipeline with a clear error.
//
// Restart intensity: more than `max_restarts` restarts within `max_seconds`
// and the supervisor gives up. With 3 in 5s, crashes at t=0, 1, 2 are
// restarted; a fourth at t=3 escalates; had it come at t=6, two of the
// earlier ones would have left the window and it would be restarted.
//
//   Supervisor stage_supervisor("enrich", options.supervision, /*children=*/4, clock,
//       [&](size_t instance, const std::string& why) { instances[instance]->Restart(why); },
//       [&](const std::string& why) { root.ChildCrashed(stage_index, why); });
//
// Thread-safe: ChildCrashed() may be called from any worker. The callbacks
// run under no lock of this supervisor, so they may call into its parent.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

#include "pipeline/clock.h"
#include "pipeline/mutex.h"
#include "pipeline/options.h"

namespace sluice {

class Supervisor {
 public:
  // Restarts child `index` (fresh state) because of `reason`.
  using RestartChild = std::function<void(size_t index, const std::string& reason)>;
  // The supervisor gave up after `reason`.
  using Escalate = std::function<void(const std::string& reason)>;

  Supervisor(std::string name, SupervisionOptions options, size_t children, const Clock& clock,
             RestartChild restart_child, Escalate escalate);

  // Child `index` crashed: restarts the children the strategy names, or
  // escalates if that would exceed the restart intensity.
  void ChildCrashed(size_t index, const std::string& reason);
  // Forgets past restarts: the supervisor itself was restarted.
  void Reset();

  const std::string& name() const { return name_; }
  // Restart decisions taken (each covering one or more children).
  size_t restarts() const;
  bool gave_up() const;

 private:
  const std::string name_;
  const SupervisionOptions options_;
  const size_t children_;
  const Clock& clock_;
  const RestartChild restart_child_;
  const Escalate escalate_;

  mutable Mutex mu_;
  std::deque<absl::Time> recent_restarts_ ABSL_GUARDED_BY(mu_);
  size_t restarts_ ABSL_GUARDED_BY(mu_) = 0;
  bool gave_up_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sluice
