// File: pipeline/dispatchers/demand_dispatcher.h
//
// DemandDispatcher sends each event to exactly one subscriber: the one with
// the most pending demand (GenStage's `GenStage.DemandDispatcher`, the default
// dispatcher). It is how a stage spreads work over the `concurrency`
// instances of the stage below it; groups play no part, every subscriber
// competes on demand alone.
//
// Pending demand of a subscriber is everything it asked for minus everything
// it was sent. Dispatch() repeatedly picks the subscriber with the most pending
// demand (the earliest subscribed on a tie) and sends it as many events from
// the front of `pending` as it can take, in one batch that shares `pending`'s
// memory, until `pending` is empty or nobody has demand left:
//
//   A asks 10, B asks 30; 40 events pending:
//     B (30) gets events 0..29, then A (10) gets events 30..39.
//   A asks 10, B asks 30; 20 events pending:
//     B gets events 0..19 and still wants 10; A still wants 10.
//
// AvailableDemand() is the sum of pending demand (40, then 20 above). The
// dispatcher holds no events: what cannot be sent stays in `pending`.
//
//   DemandDispatcher dispatcher;
//   SubscriberInfo instance;
//   instance.id = SubscriptionId(1);
//   dispatcher.Subscribe(instance);
//   dispatcher.Ask(instance.id, 1000);
//   dispatcher.Dispatch(buffer, target);  // sends up to 1000 from `buffer`
//
// Picking costs O(log subscribers): subscribers with pending demand are kept
// in a set ordered by (pending demand, most first; subscription order), so a
// stage with 10,000 instances below it does not scan them all per batch.
// Ask() and each batch sent move one subscriber within that set.
//
// Thread-compatible: the owning producer instance calls it from one worker at
// a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"

#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"

namespace sluice {

class DemandDispatcher final : public Dispatcher {
 public:
  DemandDispatcher() = default;
  DemandDispatcher(const DemandDispatcher&) = delete;
  DemandDispatcher& operator=(const DemandDispatcher&) = delete;

  // REQUIRES: `subscriber.id` is not subscribed yet.
  void Subscribe(const SubscriberInfo& subscriber) override;
  // Forgets the subscriber and its pending demand. Returns an empty batch: a
  // DemandDispatcher holds no events. Cancelling an unknown (or already
  // cancelled) subscription does nothing.
  EventBatch Cancel(SubscriptionId subscription) override;
  // REQUIRES: count > 0 and `subscription` is subscribed.
  void Ask(SubscriptionId subscription, int64_t count) override;
  void Dispatch(EventBatch& pending, DispatchTarget& target) override;
  // Sum over subscribers of their pending demand.
  int64_t AvailableDemand() const override { return total_pending_demand_; }

 private:
  struct Subscriber {
    SubscriptionId id;
    // Asked for minus sent; never negative.
    int64_t pending_demand = 0;
    // Position in subscription order: ties go to the smallest.
    uint64_t order = 0;
  };
  // A subscriber with pending demand, as kept in by_demand_.
  struct Ranked {
    int64_t pending_demand;
    uint64_t order;
    uint32_t id;
  };
  // Most pending demand first; the earliest subscribed on a tie.
  struct MostDemandFirst {
    bool operator()(const Ranked& a, const Ranked& b) const {
      if (a.pending_demand != b.pending_demand) return a.pending_demand > b.pending_demand;
      return a.order < b.order;
    }
  };

  // Adds `count` (may be negative) to a subscriber's pending demand,
  // keeping by_demand_ and total_pending_demand_ in step.
  void AddDemand(Subscriber& subscriber, int64_t count);

  // SubscriptionId value -> subscriber.
  absl::flat_hash_map<uint32_t, Subscriber> subscribers_;
  // Exactly the subscribers whose pending demand is > 0.
  absl::btree_set<Ranked, MostDemandFirst> by_demand_;
  uint64_t next_order_ = 0;
  // Sum of subscribers_[*].pending_demand.
  int64_t total_pending_demand_ = 0;
};

}  // namespace sluice
