// File: pipeline/internal/held_events.h
//
// The events a producer-consumer instance holds past the call that received
// them (Output::Hold: a batching, delaying or rate-limiting stage), owned by
// the runtime rather than by the user's stage object, so that a crash or a
// restart cannot lose them (docs/decisions/0006-held-events.md).
//
// Each held event is copied into memory of its own (key, value and headers in
// one buffer): holding a few events must not pin the whole 64 KiB arenas of
// the batches they came in.
//
// Thread-compatible: owned by one StageInstance, used inside its actor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/event.h"
#include "pipeline/event_batch.h"
#include "pipeline/stage.h"

namespace sluice::internal {

class HeldEvents {
 public:
  // Keeps a copy of `event` under `id`. REQUIRES: `id` is not held.
  void Hold(HeldId id, const Event& event);
  // Removes the event held under `id` and appends it to `out` (its bytes
  // copied into out's memory). False if nothing is held under `id`.
  bool ReleaseInto(HeldId id, EventBatch& out);
  // Removes every held event and appends them to `out`, in the order they
  // were held.
  void ReleaseAllInto(EventBatch& out);

  size_t size() const { return held_.size(); }
  bool empty() const { return held_.empty(); }

 private:
  // One event and the bytes it views. Never moved once made (held by
  // unique_ptr), so the views stay valid.
  struct Held {
    std::string bytes;
    std::vector<Header> headers;
    Event event;
  };

  // Ordered by id, which is the order of holding: a release of everything
  // keeps the stage's input order.
  std::map<HeldId, std::unique_ptr<Held>> held_;
};

}  // namespace sluice::internal
