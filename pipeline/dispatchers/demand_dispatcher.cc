#include "pipeline/dispatchers/demand_dispatcher.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/container/inlined_vector.h"

namespace sluice {

void DemandDispatcher::Subscribe(const SubscriberInfo& subscriber) {
  const bool inserted =
      subscribers_.emplace(subscriber.id.value(), Subscriber{subscriber.id, 0, next_order_++})
          .second;
  assert(inserted && "subscription id subscribed twice");
  (void)inserted;
}

EventBatch DemandDispatcher::Cancel(SubscriptionId subscription) {
  const auto found = subscribers_.find(subscription.value());
  if (found == subscribers_.end()) return {};
  AddDemand(found->second, -found->second.pending_demand);
  subscribers_.erase(found);
  return {};
}

void DemandDispatcher::Ask(SubscriptionId subscription, int64_t count) {
  assert(count > 0);
  const auto found = subscribers_.find(subscription.value());
  assert(found != subscribers_.end() && "Ask from an unknown subscription");
  if (count <= 0 || found == subscribers_.end()) return;
  AddDemand(found->second, count);
}

void DemandDispatcher::Dispatch(EventBatch& pending, DispatchTarget& target) {
  struct Delivery {
    SubscriptionId subscription;
    EventBatch events;
  };
  absl::InlinedVector<Delivery, 4> deliveries;
  while (!pending.empty() && !by_demand_.empty()) {
    Subscriber& subscriber = subscribers_.find(by_demand_.begin()->id)->second;
    assert(subscriber.pending_demand > 0);
    const int64_t count = std::min(static_cast<int64_t>(pending.size()), subscriber.pending_demand);
    AddDemand(subscriber, -count);
    deliveries.push_back({subscriber.id, pending.TakeFront(static_cast<size_t>(count))});
  }
  assert(total_pending_demand_ >= 0);
  // State first, sends last: Send() may call back into Ask().
  for (Delivery& delivery : deliveries) {
    target.Send(delivery.subscription, std::move(delivery.events));
  }
}

void DemandDispatcher::AddDemand(Subscriber& subscriber, int64_t count) {
  if (count == 0) return;
  if (subscriber.pending_demand > 0) {
    by_demand_.erase({subscriber.pending_demand, subscriber.order, subscriber.id.value()});
  }
  subscriber.pending_demand += count;
  total_pending_demand_ += count;
  assert(subscriber.pending_demand >= 0);
  if (subscriber.pending_demand > 0) {
    by_demand_.insert({subscriber.pending_demand, subscriber.order, subscriber.id.value()});
  }
}

}  // namespace sluice
