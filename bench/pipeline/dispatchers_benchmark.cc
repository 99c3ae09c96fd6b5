// File: bench/pipeline/dispatchers_benchmark.cc
//
// Micro-benchmarks of the three dispatchers: a producer hands batches of 1000
// events (100-byte values, keys "key-<i % 1024>") to 4 subscribers that ask
// again for whatever they receive, as consumers do. Items are events taken
// from the producer's batch, so results read as events/s per producer.
//
// Each iteration builds the pending batch as views into one prebuilt source
// batch (a 72-byte copy per event, no payload copy); BM_BuildPendingOnly
// measures that part alone, to subtract.
//
// Thread-compatible: single-threaded.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"

#include "pipeline/dispatcher.h"
#include "pipeline/event_batch.h"

namespace sluice {
namespace {

constexpr int kEventsPerBatch = 1000;
constexpr int kSubscribers = 4;
constexpr size_t kValueBytes = 100;

// The producer's source of events: 1000 events with 100-byte values.
EventBatch BuildSourceBatch() {
  EventBatch batch;
  const std::string value(kValueBytes, 'v');
  for (int i = 0; i < kEventsPerBatch; ++i) {
    const std::string key = absl::StrCat("key-", i % 1024);
    EventFields fields;
    fields.key = key;
    fields.value = value;
    batch.Append(fields);
  }
  return batch;
}

const EventBatch& SourceBatch() {
  static const EventBatch source = BuildSourceBatch();
  return source;
}

// A fresh pending batch: views into the source batch, retaining its memory.
EventBatch MakePending() {
  const EventBatch& source = SourceBatch();
  EventBatch pending;
  pending.RetainMemoryOf(source);
  pending.reserve(source.size());
  for (const Event& event : source) pending.AppendView(event);
  return pending;
}

// Subscribers that ask again for what they get; counts deliveries.
class ReaskingTarget : public DispatchTarget {
 public:
  explicit ReaskingTarget(Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  void Send(SubscriptionId subscription, EventBatch batch) override {
    const auto events = static_cast<int64_t>(batch.size());
    delivered_ += events;
    benchmark::DoNotOptimize(batch.events().data());
    dispatcher_.Ask(subscription, events);
  }
  void Fanout(const Event& event, uint32_t copies) override {
    benchmark::DoNotOptimize(&event);
    fanout_copies_ += copies;
  }

  int64_t delivered() const { return delivered_; }

 private:
  Dispatcher& dispatcher_;
  int64_t delivered_ = 0;
  int64_t fanout_copies_ = 0;
};

SubscriberInfo Subscriber(uint32_t id, uint32_t group, uint32_t index_in_group, uint32_t group_size,
                          EventSelector selector = nullptr) {
  SubscriberInfo info;
  info.id = SubscriptionId(id);
  info.group = group;
  info.index_in_group = index_in_group;
  info.group_size = group_size;
  info.selector = std::move(selector);
  return info;
}

// Runs the producer loop: every iteration dispatches one fresh batch of 1000
// until it is gone (subscribers re-ask from inside Send()).
void RunDispatch(benchmark::State& state, Dispatcher& dispatcher, int64_t max_demand) {
  ReaskingTarget target(dispatcher);
  for (uint32_t id = 0; id < kSubscribers; ++id) dispatcher.Ask(SubscriptionId(id), max_demand);
  int64_t taken = 0;
  for (auto _ : state) {
    EventBatch pending = MakePending();
    while (!pending.empty()) {
      const size_t before = pending.size();
      dispatcher.Dispatch(pending, target);
      taken += static_cast<int64_t>(before - pending.size());
      if (pending.size() == before) {
        state.SkipWithError("dispatcher made no progress");
        break;
      }
    }
    benchmark::DoNotOptimize(pending);
  }
  state.SetItemsProcessed(taken);
  state.counters["deliveries_per_event"] =
      taken == 0 ? 0.0 : static_cast<double>(target.delivered()) / static_cast<double>(taken);
}

void BM_BuildPendingOnly(benchmark::State& state) {
  for (auto _ : state) {
    EventBatch pending = MakePending();
    benchmark::DoNotOptimize(pending.events().data());
  }
  state.SetItemsProcessed(state.iterations() * kEventsPerBatch);
}
BENCHMARK(BM_BuildPendingOnly);

// 4 instances of one stage (one group); the argument is each one's
// max_demand: 250 splits every batch four ways, 1000 sends it to one.
void BM_DemandDispatcher(benchmark::State& state) {
  std::unique_ptr<Dispatcher> dispatcher = MakeDemandDispatcher();
  for (uint32_t id = 0; id < kSubscribers; ++id) {
    dispatcher->Subscribe(Subscriber(id, 0, id, kSubscribers));
  }
  RunDispatch(state, *dispatcher, state.range(0));
}
BENCHMARK(BM_DemandDispatcher)->Arg(250)->Arg(1000);

// 4 stages (groups of one) each get every event: Fanout(event, 4) per event.
void BM_BroadcastDispatcher_FourGroups(benchmark::State& state) {
  std::unique_ptr<Dispatcher> dispatcher = MakeBroadcastDispatcher();
  for (uint32_t id = 0; id < kSubscribers; ++id) dispatcher->Subscribe(Subscriber(id, id, 0, 1));
  RunDispatch(state, *dispatcher, state.range(0));
}
BENCHMARK(BM_BroadcastDispatcher_FourGroups)->Arg(1000);

// As above, but two of the four groups select only keys ending in an even
// digit (about half the events).
void BM_BroadcastDispatcher_FourGroupsTwoSelectors(benchmark::State& state) {
  std::unique_ptr<Dispatcher> dispatcher = MakeBroadcastDispatcher();
  auto even_key = [](const Event& event) { return (event.key().back() - '0') % 2 == 0; };
  for (uint32_t id = 0; id < kSubscribers; ++id) {
    dispatcher->Subscribe(Subscriber(id, id, 0, 1, id % 2 == 0 ? EventSelector() : even_key));
  }
  RunDispatch(state, *dispatcher, state.range(0));
}
BENCHMARK(BM_BroadcastDispatcher_FourGroupsTwoSelectors)->Arg(1000);

// One stage of 4 instances (one group): no Fanout, runs cut off the batch.
void BM_BroadcastDispatcher_OneGroupOfFour(benchmark::State& state) {
  std::unique_ptr<Dispatcher> dispatcher = MakeBroadcastDispatcher();
  for (uint32_t id = 0; id < kSubscribers; ++id) {
    dispatcher->Subscribe(Subscriber(id, 0, id, kSubscribers));
  }
  RunDispatch(state, *dispatcher, state.range(0));
}
BENCHMARK(BM_BroadcastDispatcher_OneGroupOfFour)->Arg(250);

// One stage of 4 instances, partitioned by key (XXH3 per event).
void BM_PartitionDispatcher(benchmark::State& state) {
  std::unique_ptr<Dispatcher> dispatcher = MakePartitionDispatcher();
  for (uint32_t id = 0; id < kSubscribers; ++id) {
    dispatcher->Subscribe(Subscriber(id, 0, id, kSubscribers));
  }
  RunDispatch(state, *dispatcher, state.range(0));
}
BENCHMARK(BM_PartitionDispatcher)->Arg(250)->Arg(1000);

}  // namespace
}  // namespace sluice
