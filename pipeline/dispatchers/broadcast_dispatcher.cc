#include "pipeline/dispatchers/broadcast_dispatcher.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/container/inlined_vector.h"

namespace sluice {
namespace {

struct Delivery {
  SubscriptionId subscription;
  EventBatch events;
};

}  // namespace

void BroadcastDispatcher::Subscribe(const SubscriberInfo& subscriber) {
  const size_t subscriber_index = subscribers_.size();
  const bool inserted = index_by_id_.emplace(subscriber.id.value(), subscriber_index).second;
  assert(inserted && "subscription id subscribed twice");
  if (!inserted) return;

  auto group = std::find_if(groups_.begin(), groups_.end(),
                            [&](const Group& g) { return g.id == subscriber.group; });
  if (group == groups_.end()) {
    Group added;
    added.id = subscriber.group;
    added.selector = subscriber.selector;
    groups_.push_back(std::move(added));
    group = groups_.end() - 1;
  }
  group->members.push_back(subscriber_index);

  Subscriber added;
  added.id = subscriber.id;
  added.group = static_cast<size_t>(group - groups_.begin());
  subscribers_.push_back(std::move(added));
}

EventBatch BroadcastDispatcher::Cancel(SubscriptionId subscription) {
  const auto found = index_by_id_.find(subscription.value());
  if (found == index_by_id_.end()) return {};
  const size_t cancelled = found->second;
  const size_t group = subscribers_[cancelled].group;
  subscribers_.erase(subscribers_.begin() + static_cast<ptrdiff_t>(cancelled));

  const bool group_now_empty = groups_[group].members.size() == 1;
  if (group_now_empty) {
    groups_.erase(groups_.begin() + static_cast<ptrdiff_t>(group));
    for (Subscriber& subscriber : subscribers_) {
      if (subscriber.group > group) --subscriber.group;
    }
  }
  Rebuild();
  return {};
}

void BroadcastDispatcher::Ask(SubscriptionId subscription, int64_t count) {
  assert(count > 0);
  const auto found = index_by_id_.find(subscription.value());
  assert(found != index_by_id_.end() && "Ask from an unknown subscription");
  if (count <= 0 || found == index_by_id_.end()) return;
  Subscriber& subscriber = subscribers_[found->second];
  subscriber.pending_demand += count;
  groups_[subscriber.group].pending_demand += count;
}

int64_t BroadcastDispatcher::AvailableDemand() const {
  if (groups_.empty()) return 0;
  int64_t available = groups_.front().pending_demand;
  for (const Group& group : groups_) available = std::min(available, group.pending_demand);
  return available;
}

void BroadcastDispatcher::Dispatch(EventBatch& pending, DispatchTarget& target) {
  if (groups_.empty() || pending.empty()) return;
  // A group that wants everything and has no demand blocks the first event.
  for (const Group& group : groups_) {
    if (!group.selector && group.pending_demand == 0) return;
  }
  if (groups_.size() == 1 && !groups_.front().selector) {
    DispatchToSoleGroup(pending, target);
    return;
  }

  for (Group& group : groups_) group.receiving_member = kNoMember;
  wanted_by_group_.assign(groups_.size(), 0);
  size_t taken = 0;
  for (; taken < pending.size(); ++taken) {
    const Event& event = pending[taken];
    uint32_t copies = 0;
    bool sendable = true;
    for (size_t g = 0; g < groups_.size(); ++g) {
      const Group& group = groups_[g];
      const bool wanted = !group.selector || group.selector(event);
      wanted_by_group_[g] = wanted ? 1 : 0;
      if (!wanted) continue;
      if (group.pending_demand == 0) {
        sendable = false;
        break;
      }
      ++copies;
    }
    if (!sendable) break;

    // Before any send, so acknowledgement expects `copies` completions.
    if (copies != 1) target.Fanout(event, copies);
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (!wanted_by_group_[g]) continue;
      Group& group = groups_[g];
      Subscriber& member = ReceivingMember(group);
      if (member.outgoing.empty()) {
        member.outgoing.RetainMemoryOf(pending);
        member.outgoing.reserve(
            std::min(pending.size() - taken, static_cast<size_t>(member.pending_demand)));
      }
      member.outgoing.AppendView(event);
      --member.pending_demand;
      --group.pending_demand;
      assert(member.pending_demand >= 0 && group.pending_demand >= 0);
    }
  }
  if (taken == 0) return;

  absl::InlinedVector<Delivery, 4> deliveries;
  for (Subscriber& subscriber : subscribers_) {
    if (subscriber.outgoing.empty()) continue;
    deliveries.push_back({subscriber.id, std::move(subscriber.outgoing)});
    subscriber.outgoing = EventBatch();
  }
  // The deliveries retain `pending`'s memory; the taken events themselves
  // are no longer needed here.
  pending.TakeFront(taken);
  // State first, sends last: Send() may call back into Ask().
  for (Delivery& delivery : deliveries) {
    target.Send(delivery.subscription, std::move(delivery.events));
  }
}

void BroadcastDispatcher::DispatchToSoleGroup(EventBatch& pending, DispatchTarget& target) {
  Group& group = groups_.front();
  group.receiving_member = kNoMember;
  absl::InlinedVector<Delivery, 4> deliveries;
  while (!pending.empty() && group.pending_demand > 0) {
    Subscriber& member = ReceivingMember(group);
    const size_t count = std::min(pending.size(), static_cast<size_t>(member.pending_demand));
    member.pending_demand -= static_cast<int64_t>(count);
    group.pending_demand -= static_cast<int64_t>(count);
    deliveries.push_back({member.id, pending.TakeFront(count)});
  }
  assert(group.pending_demand >= 0);
  for (Delivery& delivery : deliveries) {
    target.Send(delivery.subscription, std::move(delivery.events));
  }
}

BroadcastDispatcher::Subscriber& BroadcastDispatcher::ReceivingMember(Group& group) {
  assert(group.pending_demand > 0);
  if (group.receiving_member != kNoMember &&
      subscribers_[group.receiving_member].pending_demand > 0) {
    return subscribers_[group.receiving_member];
  }
  size_t best = group.members.front();
  for (size_t member : group.members) {
    if (subscribers_[member].pending_demand > subscribers_[best].pending_demand) best = member;
  }
  assert(subscribers_[best].pending_demand > 0);
  group.receiving_member = best;
  return subscribers_[best];
}

void BroadcastDispatcher::Rebuild() {
  index_by_id_.clear();
  for (Group& group : groups_) {
    group.members.clear();
    group.pending_demand = 0;
    group.receiving_member = kNoMember;
  }
  for (size_t i = 0; i < subscribers_.size(); ++i) {
    Subscriber& subscriber = subscribers_[i];
    index_by_id_.emplace(subscriber.id.value(), i);
    groups_[subscriber.group].members.push_back(i);
    groups_[subscriber.group].pending_demand += subscriber.pending_demand;
  }
}

}  // namespace sluice
