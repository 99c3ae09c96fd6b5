// File: pipeline/dispatchers/partition_dispatcher.h
//
// PartitionDispatcher sends each event, in every group, to the member whose
// index is StablePartition(partition key, group size), so all events with one
// key reach the same instance, in order (GenStage's
// `GenStage.PartitionDispatcher`, with sluice's groups). The partition key is
// the event key unless a PartitionKey function says otherwise.
//
// A member (a slot: one index of one group) that has no demand does not stop
// the others: events for it are taken out of `pending` into the slot's own
// queue, counted by held_events(), and sent first, in order, once it asks
// again. Events for a slot whose member has not subscribed yet (or was
// cancelled and not replaced) are queued the same way and go to whoever
// subscribes to that slot.
//
// Demand. Each group has a balance: the sum over its slots of (pending demand
// - events queued for the slot). Dispatch() takes an event out of `pending`
// only while every group's balance is positive, and taking one lowers each
// group's balance by exactly one (it is either sent, using one unit of
// demand, or queued). So
//
//   AvailableDemand() = max(0, min over groups of the group's balance)
//
// (with one group: max(0, sum over subscribers of (pending demand - queued for
// it))), and the events held for a group never exceed the demand its members
// had outstanding when those events were taken: at most the sum of their
// max_demand. Worked numbers, one group of members A (index 0) and B (index
// 1), each asking 10, then 20 events pending of which 15 hash to A, 5 to B:
//
//   AvailableDemand() = (10 - 0) + (10 - 0) = 20, so all 20 are taken:
//   A is sent its first 10, its other 5 are queued; B is sent its 5.
//   Balance: A (0 - 5) + B (5 - 0) = 0 -> AvailableDemand() = 0,
//   held_events() = 5. B still wants 5, but the producer hands over nothing
//   until A catches up: a backed-up partition slows the others.
//   A asks 10: Dispatch() sends A its 5 queued events first. Balance:
//   A (5 - 0) + B (5 - 0) = 10 -> AvailableDemand() = 10.
//
// Summing max(0, pending demand - queued) per subscriber instead would have
// answered 5 after the first Dispatch(), and B's unused demand could pull in
// event after event hashing to A: A's queue would grow without bound.
//
// Several groups: every event goes to one member of each group; each group's
// balance drops by one per event, so the producer moves at the pace of the
// slowest group, as with broadcast. When the number of groups is not 1,
// target.Fanout(event, number of groups) is called for each event before it
// is sent or queued anywhere.
//
// Cancel() returns the events queued for the cancelled slot (their other
// groups' copies are unaffected), so the caller can fail or re-route them.
// When the last member of a group cancels, the group goes away and the events
// queued for its vacant slots are returned too.
//
//   PartitionDispatcher dispatcher;  // partitions by event key
//   for (uint32_t i = 0; i < 4; ++i) {
//     SubscriberInfo instance;
//     instance.id = SubscriptionId(i);
//     instance.index_in_group = i;
//     instance.group_size = 4;
//     dispatcher.Subscribe(instance);
//     dispatcher.Ask(instance.id, 1000);
//   }
//   dispatcher.Dispatch(buffer, target);
//
// Memory: sent and queued events are views into the memory of the batch they
// came from, retained by the batch that carries them (a queue keeps one batch
// per Dispatch() that added to it, so memory is released as queues drain).
//
// Thread-compatible: the owning producer instance calls it from one worker at
// a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"

namespace sluice {

class PartitionDispatcher final : public Dispatcher {
 public:
  // `partition_key` picks the bytes to hash; null means the event key.
  explicit PartitionDispatcher(PartitionKey partition_key = nullptr);
  PartitionDispatcher(const PartitionDispatcher&) = delete;
  PartitionDispatcher& operator=(const PartitionDispatcher&) = delete;

  // Takes slot `subscriber.index_in_group` of `subscriber.group`, creating
  // the group with `subscriber.group_size` slots if it is the first member.
  // Events already queued for the slot are the new member's first.
  // REQUIRES: the id is not subscribed yet; group_size > 0 and equal to the
  // group's; index_in_group < group_size; the slot is free.
  void Subscribe(const SubscriberInfo& subscriber) override;
  // Frees the subscriber's slot and returns the events queued for it (plus,
  // for a group's last member, those queued for the group's vacant slots).
  // Cancelling an unknown subscription returns an empty batch.
  EventBatch Cancel(SubscriptionId subscription) override;
  // REQUIRES: count > 0 and `subscription` is subscribed.
  void Ask(SubscriptionId subscription, int64_t count) override;
  void Dispatch(EventBatch& pending, DispatchTarget& target) override;
  // max(0, min over groups of sum over slots of (pending demand - queued));
  // 0 with no groups.
  int64_t AvailableDemand() const override;
  // Events queued in slots, over all groups.
  size_t held_events() const override { return held_events_; }

 private:
  // A FIFO of events waiting for one slot's demand. Keeps one segment per
  // Dispatch() that added to it, each retaining that `pending`'s memory, and
  // drops a segment once all its events have left.
  class HeldEvents {
   public:
    [[nodiscard]] size_t size() const { return size_; }
    [[nodiscard]] bool empty() const { return size_ == 0; }
    // Appends `event`, a view into `source`. `dispatch_serial` tells apart
    // the Dispatch() calls, whose `pending` may hold different memory.
    void Push(const Event& event, const EventBatch& source, uint64_t dispatch_serial);
    // Moves the first `count` events to the back of `out`, which retains
    // their memory. REQUIRES: count <= size().
    void MoveFront(size_t count, EventBatch& out);

   private:
    struct Segment {
      EventBatch events;
      // Index of the first event in `events` not yet moved out.
      size_t next = 0;
      uint64_t dispatch_serial = 0;
    };
    std::deque<Segment> segments_;
    size_t size_ = 0;
  };

  struct Slot {
    bool occupied = false;
    SubscriptionId subscription;
    // Asked for minus sent; never negative. 0 while the slot is free.
    int64_t pending_demand = 0;
    HeldEvents held;
    // Built during Dispatch(): the events this slot is about to be sent.
    EventBatch outgoing;
    // The Dispatch() whose `pending` memory `outgoing` last retained.
    uint64_t outgoing_retains_serial = 0;
  };

  struct Group {
    uint32_t id = 0;
    std::vector<Slot> slots;
    uint32_t members = 0;
    // Sum over slots of (pending_demand - held.size()); may be negative after
    // a cancel.
    int64_t balance = 0;
  };

  struct Location {
    size_t group = 0;
    size_t slot = 0;
  };

  [[nodiscard]] std::string_view PartitionKeyOf(const Event& event) const {
    return partition_key_ ? partition_key_(event) : event.key();
  }

  PartitionKey partition_key_;
  std::vector<Group> groups_;
  // SubscriptionId value -> its slot.
  absl::flat_hash_map<uint32_t, Location> locations_;
  size_t held_events_ = 0;
  uint64_t dispatch_serial_ = 0;
};

}  // namespace sluice
