// File: pipeline/internal/scheduler.h
//
// The Scheduler runs Actors - lightweight processes with a mailbox - on a
// oneTBB task arena, and wakes them from one timer thread. An actor is
// enqueued when a message arrives and it is not already scheduled; it runs a
// bounded slice, then either yields (re-enqueued behind the others) or goes
// back to waiting. Thousands of actors share the arena's few workers.
//
// Nothing blocking runs on the arena: timers live on their own thread, which
// only notifies actors.
//
// Why the `scheduled_` flag carries the memory ordering (DESIGN.md, "Known
// facts"): Debian's oneTBB is not built with ThreadSanitizer, so TSan cannot
// see that enqueueing a task happens before the task runs. An actor's state
// is instead handed from one run to the next through `scheduled_`, released
// by the run that clears it and acquired by the Notify() that sets it.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "oneapi/tbb/task_arena.h"

#include "pipeline/mutex.h"

namespace sluice::internal {

class Scheduler;

class Actor {
 public:
  explicit Actor(Scheduler& scheduler) : scheduler_(scheduler) {}
  virtual ~Actor() = default;
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;

  // Makes sure the actor runs soon. Thread-safe, cheap when already scheduled.
  void Notify();
  // A timer set with Scheduler::NotifyAt() fired (on the timer thread).
  // Defaults to Notify().
  virtual void OnTimer() { Notify(); }

 protected:
  // Does one bounded slice of work. Returns true if it could do more right
  // away (it yields and is enqueued again), false if it waits for a message.
  virtual bool RunSlice() = 0;
  // True if messages arrived that RunSlice() has not seen.
  virtual bool HasMessages() = 0;

  Scheduler& scheduler() { return scheduler_; }

 private:
  friend class Scheduler;
  void Run();

  Scheduler& scheduler_;
  // True from Notify() until the run that clears it; see the file comment.
  std::atomic<bool> scheduled_{false};
};

class Scheduler {
 public:
  // `workers` arena threads; 0 means one per core.
  explicit Scheduler(int workers);
  ~Scheduler();

  // Notifies `actor` at `deadline` or later. Thread-safe.
  void NotifyAt(Actor* actor, absl::Time deadline);
  // Stops the timer thread and waits for every running or enqueued actor
  // slice to finish; later Notify() calls are ignored. Idempotent.
  void Shutdown();
  int workers() const { return workers_; }

 private:
  friend class Actor;
  void Enqueue(Actor* actor);
  void RunNext();
  void TimerLoop();

  struct Timer {
    absl::Time deadline;
    Actor* actor;
    bool operator>(const Timer& other) const { return deadline > other.deadline; }
  };

  int workers_;
  tbb::task_arena arena_;
  // Actors to run, in order; each arena task runs the front one. The lock
  // is what orders an actor's enqueueing before its run for TSan. It is one
  // process-wide lock, made before any arena thread exists: an arena thread
  // left from an earlier scheduler must be ordered after this scheduler's
  // construction too, and only a lock older than both can do that.
  static Mutex& HandoffMutex();

  std::deque<Actor*> run_queue_ ABSL_GUARDED_BY(HandoffMutex());
  // Slices enqueued and not finished; Shutdown() waits for zero.
  int64_t pending_slices_ ABSL_GUARDED_BY(HandoffMutex()) = 0;
  bool shut_down_ ABSL_GUARDED_BY(HandoffMutex()) = false;
  CondVar idle_cv_;

  Mutex timer_mu_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_ ABSL_GUARDED_BY(timer_mu_);
  bool timer_stop_ ABSL_GUARDED_BY(timer_mu_) = false;
  bool timers_changed_ ABSL_GUARDED_BY(timer_mu_) = false;
  CondVar timer_cv_;
  std::thread timer_thread_;
};

}  // namespace sluice::internal
