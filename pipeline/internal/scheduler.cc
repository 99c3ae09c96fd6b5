#include "pipeline/internal/scheduler.h"

#include <algorithm>
#include <thread>

#include "absl/time/clock.h"

namespace sluice::internal {

void Actor::Notify() {
  // acq_rel: acquire what the previous run released when it cleared the flag.
  if (!scheduled_.exchange(true, std::memory_order_acq_rel)) scheduler_.Enqueue(this);
}

void Actor::Run() {
  // Pairs with the release in Notify()'s exchange by the thread that enqueued us.
  scheduled_.load(std::memory_order_acquire);
  if (RunSlice()) {
    scheduler_.Enqueue(this);  // still scheduled: yield to the others
    return;
  }
  // seq_cst so the HasMessages() below cannot be ordered before the store: a
  // sender either sees false and enqueues, or we see its message.
  scheduled_.store(false, std::memory_order_seq_cst);
  if (HasMessages()) Notify();
}

Mutex& Scheduler::HandoffMutex() {
  static Mutex* const mu = new Mutex();
  return *mu;
}

Scheduler::Scheduler(int workers)
    : workers_(workers > 0 ? workers
                           : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      arena_(workers_),
      timer_thread_([this] { TimerLoop(); }) {}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::Enqueue(Actor* actor) {
  {
    MutexLock lock(&HandoffMutex());
    if (shut_down_) return;
    run_queue_.push_back(actor);
    ++pending_slices_;
  }
  // The task carries nothing but `this`; the actor travels through
  // run_queue_, whose lock orders this enqueue before that run (see the file
  // comment: TSan cannot see oneTBB's own ordering).
  arena_.enqueue([this] { RunNext(); });
}

void Scheduler::RunNext() {
  Actor* actor = nullptr;
  bool run = false;
  {
    MutexLock lock(&HandoffMutex());
    actor = run_queue_.front();
    run_queue_.pop_front();
    run = !shut_down_;
  }
  if (run) actor->Run();
  MutexLock lock(&HandoffMutex());
  if (--pending_slices_ == 0) idle_cv_.notify_all();
}

void Scheduler::NotifyAt(Actor* actor, absl::Time deadline) {
  MutexLock lock(&timer_mu_);
  if (timer_stop_) return;
  timers_.push({deadline, actor});
  timers_changed_ = true;
  timer_cv_.notify_one();
}

void Scheduler::TimerLoop() {
  std::unique_lock<Mutex> lock(timer_mu_);
  while (!timer_stop_) {
    timers_changed_ = false;
    const absl::Time now = absl::Now();
    while (!timers_.empty() && timers_.top().deadline <= now) {
      Actor* actor = timers_.top().actor;
      timers_.pop();
      actor->OnTimer();
    }
    const absl::Duration wait =
        timers_.empty() ? absl::Milliseconds(50)
                        : std::min(timers_.top().deadline - now, absl::Milliseconds(50));
    // Wakes early when a timer is pushed (it may be due sooner) or on stop.
    timer_cv_.wait_for(
        lock, absl::ToChronoNanoseconds(wait),
        [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return timer_stop_ || timers_changed_; });
  }
}

void Scheduler::Shutdown() {
  {
    MutexLock lock(&HandoffMutex());
    if (shut_down_) return;
    shut_down_ = true;
  }
  {
    MutexLock lock(&timer_mu_);
    timer_stop_ = true;
    timer_cv_.notify_one();
  }
  if (timer_thread_.joinable()) timer_thread_.join();
  std::unique_lock<Mutex> lock(HandoffMutex());
  idle_cv_.wait(lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return pending_slices_ == 0; });
}

}  // namespace sluice::internal
