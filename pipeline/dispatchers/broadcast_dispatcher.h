// File: pipeline/dispatchers/broadcast_dispatcher.h
//
// BroadcastDispatcher sends every event to every downstream stage (group) that
// wants it, to one instance (member) of each, at the pace of the slowest group
// (GenStage's `GenStage.BroadcastDispatcher`, with sluice's groups). A group
// may carry a selector; events it rejects are not sent to it and do not use
// its demand.
//
// An event is sent only when every group that wants it has pending demand for
// it (a group's pending demand is the sum of its members'), so Dispatch()
// walks `pending` from the front and stops at the first event some wanting
// group has no demand for: that event and all after it stay in `pending`, in
// order. Within a group, events go to the member with the most pending demand
// until it has none left, then to the next one, so a run may be split among
// members. Groups "fast" (F, asked 100) and "slow" (S, asked 10), 50 events
// pending, no selectors:
//
//   events 0..9 go to F and to S; events 10..49 stay pending.
//   AvailableDemand() was 10 (= min(100, 10)) and is now 0 (= min(90, 0)).
//   S asks 40: events 10..49 go to both; AvailableDemand() is 0 (= min(50, 0)).
//
// With a selector on S accepting only even events, the same first Dispatch()
// sends events 0..19 to F and the ten even ones among them (0, 2, ..., 18) to
// S, calling Fanout(event, 2) for each of those ten first; the odd ones go to
// F alone (one copy, no Fanout). It stops at event 20: S wants it and has no
// demand left. AvailableDemand() is then min(80, 0) = 0.
//
// Acknowledgement: before anything is sent, target.Fanout(event, copies) is
// called for every sent event whose number of receiving groups is not 1,
// including 0 (no group wanted it: it is done and leaves `pending`). With one
// group and no selector Fanout() is never called.
//
// Memory: each group's batch is its own EventBatch whose events are views
// into `pending`'s memory, which every such batch retains. With one group and
// no selector, batches are cut off the front of `pending` (TakeFront), as the
// DemandDispatcher does.
//
//   BroadcastDispatcher dispatcher;
//   SubscriberInfo archive;
//   archive.id = SubscriptionId(1);
//   archive.group = 0;
//   SubscriberInfo alerts;
//   alerts.id = SubscriptionId(2);
//   alerts.group = 1;
//   alerts.selector = [](const Event& event) { return event.key() == "alert"; };
//   dispatcher.Subscribe(archive);
//   dispatcher.Subscribe(alerts);
//
// Implementation notes: a selector must be a pure function of the event; it
// may be called more than once for the same event (again on each Dispatch()
// while the event waits). The first member to subscribe sets its group's
// selector. With no subscriber at all, Dispatch() sends nothing and
// AvailableDemand() is 0.
//
// Thread-compatible: the owning producer instance calls it from one worker at
// a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"

namespace sluice {

class BroadcastDispatcher final : public Dispatcher {
 public:
  BroadcastDispatcher() = default;
  BroadcastDispatcher(const BroadcastDispatcher&) = delete;
  BroadcastDispatcher& operator=(const BroadcastDispatcher&) = delete;

  // Adds a member to `subscriber.group`, creating the group (with this
  // subscriber's selector) if it is the first member.
  // REQUIRES: `subscriber.id` is not subscribed yet.
  void Subscribe(const SubscriberInfo& subscriber) override;
  // Forgets the subscriber, and its group when it was the last member. A
  // group leaving may let waiting events go: call Dispatch() again. Returns
  // an empty batch (nothing is held). Cancelling an unknown subscription does
  // nothing.
  EventBatch Cancel(SubscriptionId subscription) override;
  // REQUIRES: count > 0 and `subscription` is subscribed.
  void Ask(SubscriptionId subscription, int64_t count) override;
  void Dispatch(EventBatch& pending, DispatchTarget& target) override;
  // Minimum over groups of the group's pending demand; 0 with no groups.
  int64_t AvailableDemand() const override;

 private:
  static constexpr size_t kNoMember = static_cast<size_t>(-1);

  struct Subscriber {
    SubscriptionId id;
    // Index into groups_.
    size_t group = 0;
    // Asked for minus sent; never negative.
    int64_t pending_demand = 0;
    // Built during Dispatch(): the events this subscriber is about to get.
    EventBatch outgoing;
  };

  struct Group {
    uint32_t id = 0;
    EventSelector selector;
    // Indexes into subscribers_, in subscription order.
    std::vector<size_t> members;
    // Sum of the members' pending demand.
    int64_t pending_demand = 0;
    // During Dispatch(): the member receiving this group's events, or
    // kNoMember before the first one is picked.
    size_t receiving_member = kNoMember;
  };

  // With one group and no selector: cut runs off the front of `pending`.
  void DispatchToSoleGroup(EventBatch& pending, DispatchTarget& target);
  // The member of `group` that receives its next event. REQUIRES:
  // group.pending_demand > 0.
  Subscriber& ReceivingMember(Group& group);
  void Rebuild();

  // In subscription order.
  std::vector<Subscriber> subscribers_;
  std::vector<Group> groups_;
  // SubscriptionId value -> index into subscribers_.
  absl::flat_hash_map<uint32_t, size_t> index_by_id_;
  // Dispatch() scratch: which groups want the event at hand.
  std::vector<char> wanted_by_group_;
};

}  // namespace sluice
