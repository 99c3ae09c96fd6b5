// File: pipeline/demand.h
//
// SubscriptionDemand is a consumer's side of one subscription in GenStage's
// demand protocol, measured in events. The consumer asks for `max_demand` on
// subscribe, handles incoming events in chunks of at most
// `max_demand - min_demand`, and after handling a chunk asks again for
// whatever brings what it still expects back to `max_demand`, once that has
// fallen to `min_demand` or below.
//
// Worked numbers, max_demand 1000, min_demand 750: ask 1000 on subscribe;
// handle at most 250 per call; once 250 have arrived we still expect 750
// (= min_demand), so after handling them ask 250 more. With the defaults
// (1000, 500): chunks of 500, and an ask of 500 after each.
//
// Invariants:
//   * expected() stays within [0, max_demand];
//   * events handed to the consumer never exceed what was asked for.
//
// Thread-compatible: owned by one consumer instance.
#pragma once

#include <cassert>
#include <cstdint>

namespace sluice {

class SubscriptionDemand {
 public:
  // REQUIRES: 0 <= min_demand < max_demand.
  SubscriptionDemand(int64_t max_demand, int64_t min_demand)
      : max_demand_(max_demand), min_demand_(min_demand) {
    assert(min_demand >= 0 && min_demand < max_demand);
  }

  int64_t max_demand() const { return max_demand_; }
  int64_t min_demand() const { return min_demand_; }
  // The largest chunk handed to one HandleEvents() call.
  int64_t max_chunk() const { return max_demand_ - min_demand_; }
  // What the GenStage bookkeeping still expects (asks counted when made).
  int64_t expected() const { return expected_; }
  // Events asked for (and sent upstream) but not received yet.
  int64_t outstanding() const { return outstanding_; }

  // The ask sent on subscribe: max_demand.
  int64_t Subscribe() {
    expected_ = max_demand_;
    outstanding_ = max_demand_;
    return max_demand_;
  }

  // `count` events arrived. Returns false (and counts none of them) if that
  // is more than was asked for: the producer broke the protocol.
  bool Receive(int64_t count) {
    if (count > outstanding_) return false;
    outstanding_ -= count;
    return true;
  }

  // A chunk of `count` received events is about to be handled. Returns how
  // many to ask for once it has been handled (0: do not ask yet); call
  // Asked() when that ask is sent. REQUIRES: 0 < count <= max_chunk().
  int64_t TakeChunk(int64_t count) {
    assert(count > 0 && count <= max_chunk());
    expected_ -= count;
    if (expected_ <= min_demand_) {
      const int64_t ask = max_demand_ - expected_;
      expected_ = max_demand_;
      return ask;
    }
    return 0;
  }

  // An ask of `count` was sent upstream.
  void Asked(int64_t count) { outstanding_ += count; }

 private:
  int64_t max_demand_;
  int64_t min_demand_;
  int64_t expected_ = 0;
  int64_t outstanding_ = 0;
};

}  // namespace sluice
