#include "pipeline/dispatchers/demand_dispatcher.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "absl/container/inlined_vector.h"

namespace sluice {

void DemandDispatcher::Subscribe(const SubscriberInfo& subscriber) {
  const bool inserted = index_by_id_.emplace(subscriber.id.value(), subscribers_.size()).second;
  assert(inserted && "subscription id subscribed twice");
  if (!inserted) return;
  subscribers_.push_back({subscriber.id, 0});
}

EventBatch DemandDispatcher::Cancel(SubscriptionId subscription) {
  const auto found = index_by_id_.find(subscription.value());
  if (found == index_by_id_.end()) return {};
  total_pending_demand_ -= subscribers_[found->second].pending_demand;
  subscribers_.erase(subscribers_.begin() + static_cast<ptrdiff_t>(found->second));
  RebuildIndex();
  return {};
}

void DemandDispatcher::Ask(SubscriptionId subscription, int64_t count) {
  assert(count > 0);
  const auto found = index_by_id_.find(subscription.value());
  assert(found != index_by_id_.end() && "Ask from an unknown subscription");
  if (count <= 0 || found == index_by_id_.end()) return;
  subscribers_[found->second].pending_demand += count;
  total_pending_demand_ += count;
}

void DemandDispatcher::Dispatch(EventBatch& pending, DispatchTarget& target) {
  struct Delivery {
    SubscriptionId subscription;
    EventBatch events;
  };
  absl::InlinedVector<Delivery, 4> deliveries;
  while (!pending.empty() && total_pending_demand_ > 0) {
    Subscriber& subscriber = subscribers_[MostPendingDemand()];
    assert(subscriber.pending_demand > 0);
    const size_t count = std::min(pending.size(), static_cast<size_t>(subscriber.pending_demand));
    subscriber.pending_demand -= static_cast<int64_t>(count);
    total_pending_demand_ -= static_cast<int64_t>(count);
    deliveries.push_back({subscriber.id, pending.TakeFront(count)});
  }
  assert(total_pending_demand_ >= 0);
  // State first, sends last: Send() may call back into Ask().
  for (Delivery& delivery : deliveries) {
    target.Send(delivery.subscription, std::move(delivery.events));
  }
}

size_t DemandDispatcher::MostPendingDemand() const {
  assert(!subscribers_.empty());
  size_t best = 0;
  for (size_t i = 1; i < subscribers_.size(); ++i) {
    if (subscribers_[i].pending_demand > subscribers_[best].pending_demand) best = i;
  }
  return best;
}

void DemandDispatcher::RebuildIndex() {
  index_by_id_.clear();
  for (size_t i = 0; i < subscribers_.size(); ++i) {
    index_by_id_.emplace(subscribers_[i].id.value(), i);
  }
}

}  // namespace sluice
