// File: pipeline/internal/callback_gate.h
//
// A CallbackGate lets threads the runtime does not own (a dead-letter
// backend's writer, a sink's I/O thread completing deferred acks) call back
// into a pipeline safely while it may be shutting down. Callbacks run
// through the gate; Close() waits for the ones running and turns later ones
// away, so nothing touches an instance or the scheduler after teardown.
//
//   auto gate = runtime.callback_gate();   // shared_ptr, captured by the callback
//   queue->Write(records, [gate, this](absl::Status s) { gate->Run([&] { OnWritten(s); }); });
//
// Thread-safe. Callbacks run concurrently with each other (shared lock).
#pragma once

#include <mutex>
#include <shared_mutex>

namespace sluice::internal {

class CallbackGate {
 public:
  // Runs `callback` unless the gate is closed; returns whether it ran.
  template <typename Callback>
  bool Run(Callback&& callback) {
    std::shared_lock lock(mu_);
    if (closed_) return false;
    callback();
    return true;
  }

  // Waits for running callbacks to return; later ones do nothing. Idempotent.
  void Close() {
    std::unique_lock lock(mu_);
    closed_ = true;
  }

 private:
  std::shared_mutex mu_;
  bool closed_ = false;  // guarded by mu_
};

}  // namespace sluice::internal
