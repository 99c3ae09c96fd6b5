#include "pipeline/dispatchers/partition_dispatcher.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/container/inlined_vector.h"
#include <xxhash.h>

namespace sluice {
namespace {

struct Delivery {
  SubscriptionId subscription;
  EventBatch events;
};

}  // namespace

void PartitionDispatcher::HeldEvents::Push(const Event& event, const EventBatch& source,
                                           uint64_t dispatch_serial) {
  if (segments_.empty() || segments_.back().dispatch_serial != dispatch_serial) {
    Segment segment;
    segment.events.RetainMemoryOf(source);
    segment.dispatch_serial = dispatch_serial;
    segments_.push_back(std::move(segment));
  }
  segments_.back().events.AppendView(event);
  ++size_;
}

void PartitionDispatcher::HeldEvents::MoveFront(size_t count, EventBatch& out) {
  assert(count <= size_);
  out.reserve(out.size() + count);
  while (count > 0) {
    Segment& front = segments_.front();
    const size_t moved = std::min(count, front.events.size() - front.next);
    out.RetainMemoryOf(front.events);
    for (size_t i = front.next; i < front.next + moved; ++i) out.AppendView(front.events[i]);
    front.next += moved;
    count -= moved;
    size_ -= moved;
    if (front.next == front.events.size()) segments_.pop_front();
  }
}

PartitionDispatcher::PartitionDispatcher(PartitionKey partition_key)
    : partition_key_(std::move(partition_key)) {}

void PartitionDispatcher::Subscribe(const SubscriberInfo& subscriber) {
  assert(!locations_.contains(subscriber.id.value()) && "subscription id subscribed twice");
  assert(subscriber.group_size > 0);
  assert(subscriber.index_in_group < subscriber.group_size);
  if (locations_.contains(subscriber.id.value()) || subscriber.group_size == 0 ||
      subscriber.index_in_group >= subscriber.group_size) {
    return;
  }

  auto group = std::find_if(groups_.begin(), groups_.end(),
                            [&](const Group& g) { return g.id == subscriber.group; });
  if (group == groups_.end()) {
    Group added;
    added.id = subscriber.group;
    added.slots.resize(subscriber.group_size);
    groups_.push_back(std::move(added));
    group = groups_.end() - 1;
  }
  assert(group->slots.size() == subscriber.group_size && "members disagree on group_size");
  if (subscriber.index_in_group >= group->slots.size()) return;
  Slot& slot = group->slots[subscriber.index_in_group];
  assert(!slot.occupied && "two members subscribed to one slot");
  if (slot.occupied) return;

  slot.occupied = true;
  slot.subscription = subscriber.id;
  slot.pending_demand = 0;
  ++group->members;
  locations_[subscriber.id.value()] = {static_cast<size_t>(group - groups_.begin()),
                                       subscriber.index_in_group};
}

EventBatch PartitionDispatcher::Cancel(SubscriptionId subscription) {
  const auto found = locations_.find(subscription.value());
  if (found == locations_.end()) return {};
  const Location location = found->second;
  locations_.erase(found);

  Group& group = groups_[location.group];
  Slot& slot = group.slots[location.slot];
  assert(slot.outgoing.empty());
  EventBatch returned;
  const size_t queued = slot.held.size();
  slot.held.MoveFront(queued, returned);
  held_events_ -= queued;
  group.balance += static_cast<int64_t>(queued) - slot.pending_demand;
  slot.occupied = false;
  slot.subscription = SubscriptionId();
  slot.pending_demand = 0;
  --group.members;

  if (group.members == 0) {
    // Nobody is left to take what waits in the vacant slots.
    for (Slot& vacant : group.slots) {
      const size_t waiting = vacant.held.size();
      vacant.held.MoveFront(waiting, returned);
      held_events_ -= waiting;
    }
    groups_.erase(groups_.begin() + static_cast<ptrdiff_t>(location.group));
    for (auto& [id, other] : locations_) {
      if (other.group > location.group) --other.group;
    }
  }
  return returned;
}

void PartitionDispatcher::Ask(SubscriptionId subscription, int64_t count) {
  assert(count > 0);
  const auto found = locations_.find(subscription.value());
  assert(found != locations_.end() && "Ask from an unknown subscription");
  if (count <= 0 || found == locations_.end()) return;
  Group& group = groups_[found->second.group];
  group.slots[found->second.slot].pending_demand += count;
  group.balance += count;
}

int64_t PartitionDispatcher::AvailableDemand() const {
  if (groups_.empty()) return 0;
  int64_t available = groups_.front().balance;
  for (const Group& group : groups_) available = std::min(available, group.balance);
  return std::max<int64_t>(0, available);
}

void PartitionDispatcher::Dispatch(EventBatch& pending, DispatchTarget& target) {
  ++dispatch_serial_;
  bool any_outgoing = false;

  // What waited for demand goes before anything new for the same slot.
  for (Group& group : groups_) {
    for (Slot& slot : group.slots) {
      if (!slot.occupied || slot.held.empty() || slot.pending_demand == 0) continue;
      const size_t count = std::min(slot.held.size(), static_cast<size_t>(slot.pending_demand));
      slot.held.MoveFront(count, slot.outgoing);
      slot.pending_demand -= static_cast<int64_t>(count);
      held_events_ -= count;
      any_outgoing = true;
    }
  }

  // Each event taken lowers every group's balance by one, so this many keep
  // all balances >= 0.
  const size_t taken = std::min(pending.size(), static_cast<size_t>(AvailableDemand()));
  const auto copies = static_cast<uint32_t>(groups_.size());
  for (size_t i = 0; i < taken; ++i) {
    const Event& event = pending[i];
    const std::string_view key = PartitionKeyOf(event);
    // StablePartition(key, slots) for every group, hashing once.
    const XXH64_hash_t hash = XXH3_64bits(key.data(), key.size());
    // Before the event is sent or queued anywhere.
    if (copies != 1) target.Fanout(event, copies);
    for (Group& group : groups_) {
      Slot& slot = group.slots[hash % group.slots.size()];
      --group.balance;
      if (slot.occupied && slot.held.empty() && slot.pending_demand > 0) {
        if (slot.outgoing_retains_serial != dispatch_serial_) {
          slot.outgoing.RetainMemoryOf(pending);
          slot.outgoing_retains_serial = dispatch_serial_;
        }
        slot.outgoing.AppendView(event);
        --slot.pending_demand;
        any_outgoing = true;
      } else {
        slot.held.Push(event, pending, dispatch_serial_);
        ++held_events_;
      }
    }
  }
  if (taken > 0) pending.TakeFront(taken);
  if (!any_outgoing) return;

  absl::InlinedVector<Delivery, 4> deliveries;
  for (Group& group : groups_) {
    for (Slot& slot : group.slots) {
      if (slot.outgoing.empty()) continue;
      deliveries.push_back({slot.subscription, std::move(slot.outgoing)});
      slot.outgoing = EventBatch();
    }
  }
  // State first, sends last: Send() may call back into Ask().
  for (Delivery& delivery : deliveries) {
    target.Send(delivery.subscription, std::move(delivery.events));
  }
}

}  // namespace sluice
