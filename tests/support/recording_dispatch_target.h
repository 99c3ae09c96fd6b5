// File: tests/support/recording_dispatch_target.h
//
// RecordingDispatchTarget is a DispatchTarget for dispatcher tests: it keeps
// every batch sent (so the events stay readable after the producer's batch is
// gone), every Fanout() call, and the order of all calls. Demand goes through
// it too (Ask()), so it fails the test the moment a subscriber is sent more
// than it asked for in total.
//
//   RecordingDispatchTarget target;
//   target.Ask(dispatcher, SubscriptionId(1), 10);
//   EventBatch pending = MakeBatch({"a", "b"});
//   dispatcher.Dispatch(pending, target);
//   EXPECT_THAT(target.KeysSentTo(SubscriptionId(1)), ElementsAre("a", "b"));
//
// Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"

namespace sluice::testing {

// A batch of events with the given keys; each value is "value-" + key.
inline EventBatch MakeBatch(std::initializer_list<std::string_view> keys) {
  EventBatch batch;
  for (std::string_view key : keys) {
    const std::string value = "value-" + std::string(key);
    EventFields fields;
    fields.key = key;
    fields.value = value;
    batch.Append(fields);
  }
  return batch;
}

// A batch of `count` events keyed `prefix` + i for i in [first, first + count).
inline EventBatch MakeNumberedBatch(std::string_view prefix, int first, int count) {
  EventBatch batch;
  for (int i = first; i < first + count; ++i) {
    // append() rather than operator+: g++ 12 -O3 warns falsely (-Wrestrict)
    // about std::string + std::string.
    std::string key(prefix);
    key.append(std::to_string(i));
    EventFields fields;
    fields.key = key;
    fields.value = key;
    batch.Append(fields);
  }
  return batch;
}

// Keys of `batch`, in order.
inline std::vector<std::string> KeysOf(const EventBatch& batch) {
  std::vector<std::string> keys;
  for (const Event& event : batch) keys.emplace_back(event.key());
  return keys;
}

class RecordingDispatchTarget : public DispatchTarget {
 public:
  struct SentBatch {
    SubscriptionId subscription;
    EventBatch events;
  };
  struct FanoutCall {
    std::string key;
    uint32_t copies = 0;
  };

  // Forwards to dispatcher.Ask() and remembers the total asked, which Send()
  // checks.
  void Ask(Dispatcher& dispatcher, SubscriptionId subscription, int64_t count) {
    asked_[subscription.value()] += count;
    dispatcher.Ask(subscription, count);
  }

  void Send(SubscriptionId subscription, EventBatch batch) override {
    EXPECT_FALSE(batch.empty()) << "empty batch sent to " << subscription.value();
    int64_t& received = received_[subscription.value()];
    received += static_cast<int64_t>(batch.size());
    EXPECT_LE(received, asked_[subscription.value()])
        << "subscription " << subscription.value() << " was sent more than it asked for";
    const size_t events = batch.size();
    calls_.push_back(absl::StrCat("send:", subscription.value(), ":", events));
    sends_.push_back({subscription, std::move(batch)});
    if (on_send_) on_send_(subscription, events);
  }

  void Fanout(const Event& event, uint32_t copies) override {
    calls_.push_back(absl::StrCat("fanout:", std::string(event.key()), ":", copies));
    fanouts_.push_back({std::string(event.key()), copies});
  }

  // Called with the subscription and the batch size after each Send() is
  // recorded, e.g. to ask again re-entrantly as a consumer would.
  void set_on_send(std::function<void(SubscriptionId, size_t)> on_send) {
    on_send_ = std::move(on_send);
  }

  // Keys sent to `subscription`, over all sends, in order.
  std::vector<std::string> KeysSentTo(SubscriptionId subscription) const {
    std::vector<std::string> keys;
    for (const SentBatch& sent : sends_) {
      if (sent.subscription != subscription) continue;
      for (const Event& event : sent.events) keys.emplace_back(event.key());
    }
    return keys;
  }
  // Values sent to `subscription`, over all sends, in order.
  std::vector<std::string> ValuesSentTo(SubscriptionId subscription) const {
    std::vector<std::string> values;
    for (const SentBatch& sent : sends_) {
      if (sent.subscription != subscription) continue;
      for (const Event& event : sent.events) values.emplace_back(event.value());
    }
    return values;
  }
  // How many events `subscription` received in total.
  int64_t ReceivedBy(SubscriptionId subscription) const {
    const auto found = received_.find(subscription.value());
    return found == received_.end() ? 0 : found->second;
  }
  int64_t total_received() const {
    int64_t total = 0;
    for (const auto& [id, received] : received_) total += received;
    return total;
  }

  const std::vector<SentBatch>& sends() const { return sends_; }
  const std::vector<FanoutCall>& fanouts() const { return fanouts_; }
  // "fanout:<key>:<copies>" and "send:<subscription>:<events>", in call order.
  const std::vector<std::string>& calls() const { return calls_; }

 private:
  absl::flat_hash_map<uint32_t, int64_t> asked_;
  absl::flat_hash_map<uint32_t, int64_t> received_;
  std::vector<SentBatch> sends_;
  std::vector<FanoutCall> fanouts_;
  std::vector<std::string> calls_;
  std::function<void(SubscriptionId, size_t)> on_send_;
};

// A SubscriberInfo for `id` as member `index_in_group` of `group_size` in
// `group`.
inline SubscriberInfo Member(uint32_t id, uint32_t group = 0, uint32_t index_in_group = 0,
                             uint32_t group_size = 1, EventSelector selector = nullptr) {
  SubscriberInfo info;
  info.id = SubscriptionId(id);
  info.group = group;
  info.index_in_group = index_in_group;
  info.group_size = group_size;
  info.selector = std::move(selector);
  return info;
}

}  // namespace sluice::testing
