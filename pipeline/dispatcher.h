// File: pipeline/dispatcher.h
//
// A Dispatcher decides which subscriber receives each event its producer
// emits (GenStage's `GenStage.Dispatcher`). Every producer instance owns one.
// The runtime tells it who subscribed and how much each subscriber asked for;
// the dispatcher sends events, never more to a subscriber than it asked for.
//
// Subscriptions come in *groups*: a group is one downstream stage, its members
// that stage's `concurrency` instances. This is how sluice maps GenStage's
// flat subscriber list onto stages with several instances:
//
//   * DemandDispatcher    - each event goes to one subscriber, the one with the
//                           most pending demand, whatever its group.
//   * BroadcastDispatcher - each event goes to every group (optionally only
//                           where the group's selector accepts it), to one
//                           member of the group, at the pace of the slowest
//                           group.
//   * PartitionDispatcher - each event goes, in every group, to the member
//                           whose index is hash(partition key) % group size,
//                           so events with one key keep their order.
//
// See docs/decisions/0002-dispatch-groups.md.
//
// Implementation rules:
//   - Dispatch() sends events in the order they are given, per subscriber.
//   - A subscriber never receives more events than it asked for in total.
//   - Events handed to Dispatch() but not sent yet either stay in `pending`
//     (the producer's buffer) or in the dispatcher's own queues, counted by
//     held_events(); the producer asks its stage for more only while
//     AvailableDemand() > 0, so these stay bounded.
//
// Thread-compatible: the owning producer instance calls it from one worker at
// a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "pipeline/event.h"
#include "pipeline/event_batch.h"
#include "pipeline/named_type.h"

namespace sluice {

using SubscriptionId = NamedType<struct SubscriptionIdTag, uint32_t>;

// Which events of a broadcast a group wants; absent means all.
using EventSelector = std::function<bool(const Event&)>;

// Which bytes of an event a PartitionDispatcher hashes; defaults to the key.
using PartitionKey = std::function<std::string_view(const Event&)>;

struct SubscriberInfo {
  SubscriptionId id;
  // The downstream stage this subscriber is an instance of.
  uint32_t group = 0;
  // The instance's index within its group, in [0, group_size).
  uint32_t index_in_group = 0;
  uint32_t group_size = 1;
  // Broadcast only: the group's selector. All members of a group share one.
  EventSelector selector;
};

// Where a dispatcher delivers. Implemented by the runtime (and by tests).
class DispatchTarget {
 public:
  virtual ~DispatchTarget() = default;
  // Delivers `batch` to `subscription`. The batch is non-empty.
  virtual void Send(SubscriptionId subscription, EventBatch batch) = 0;
  // Broadcast only: `event` went to `copies` groups instead of one. Called
  // before the event is sent anywhere, so that acknowledgement expects
  // `copies` completions (0 means nobody wanted it: it is done).
  virtual void Fanout(const Event& event, uint32_t copies) = 0;
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Adds a subscriber with no demand yet.
  virtual void Subscribe(const SubscriberInfo& subscriber) = 0;
  // Removes a subscriber. Events held for it alone are dropped from the
  // dispatcher and returned, so the caller can fail or re-route them.
  virtual EventBatch Cancel(SubscriptionId subscription) = 0;
  // `subscription` asks for `count` more events. REQUIRES: count > 0.
  virtual void Ask(SubscriptionId subscription, int64_t count) = 0;
  // Sends events from the front of `pending` as far as demand allows and
  // removes from `pending` what it sent or took into its own queues. Also
  // sends what it holds, if demand now allows.
  virtual void Dispatch(EventBatch& pending, DispatchTarget& target) = 0;
  // How many more events the producer may hand over without them waiting.
  virtual int64_t AvailableDemand() const = 0;
  // Events taken from `pending` but not yet sent.
  virtual size_t held_events() const { return 0; }
};

std::unique_ptr<Dispatcher> MakeDemandDispatcher();
std::unique_ptr<Dispatcher> MakeBroadcastDispatcher();
// `partition_key` defaults to the event key.
std::unique_ptr<Dispatcher> MakePartitionDispatcher(PartitionKey partition_key = nullptr);

// The stable partition of `key` among `partitions`: XXH3-64 of the bytes,
// seed 0, modulo `partitions`. The same key maps to the same partition in
// every process, every run and on every machine.
uint32_t StablePartition(std::string_view key, uint32_t partitions);

}  // namespace sluice
