#include "stages/flow/recent_keys.h"

#include <cassert>

namespace sluice::stages {

RecentKeys::RecentKeys(absl::Duration window, size_t max_keys)
    : window_(window), max_keys_(max_keys) {
  assert(window_ > absl::ZeroDuration() && max_keys_ >= 1);
}

void RecentKeys::Expire(absl::Time now) {
  while (!order_.empty() && order_.front().at + window_ <= now) {
    keys_.erase(order_.front().hash);
    order_.pop_front();
  }
}

bool RecentKeys::SeenOrAdd(uint64_t hash, absl::Time now) {
  Expire(now);
  if (keys_.contains(hash)) return true;
  if (order_.size() >= max_keys_) {
    keys_.erase(order_.front().hash);
    order_.pop_front();
  }
  keys_.insert(hash);
  order_.push_back({now, hash});
  assert(keys_.size() == order_.size());
  return false;
}

}  // namespace sluice::stages
