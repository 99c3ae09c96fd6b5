// File: tests/support/test_stages.h
//
// Small stages for runtime tests: a generator of numbered events, a
// pass-through map, a recording sink, and a tally of what a run did with
// every event. State that must survive a restart (how far the generator got,
// what the sink saw) lives in shared objects the test owns, as a Kafka
// source's position lives in the broker.
//
// Thread-safe where shared: SinkLog and GeneratorState lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"

#include "pipeline/mutex.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage.h"

namespace sluice::testing {

// Event i has value "event-<i>" and key "key-<i % keys>".
std::string EventValue(uint64_t i);
// Parses "event-<i>"; -1 if the value is not one.
int64_t EventNumber(std::string_view value);

struct GeneratorState {
  Mutex mu;
  uint64_t next ABSL_GUARDED_BY(mu) = 0;
  // Every HandleDemand() demand, in order.
  std::vector<size_t> demands ABSL_GUARDED_BY(mu);
};

struct GeneratorOptions {
  uint64_t total = 1000;  // UINT64_MAX: until drained
  uint32_t keys = 16;
  // Emits this many per call whatever the demand (0: exactly the demand).
  size_t emit_per_call = 0;
};

ProducerFactory MakeGenerator(std::shared_ptr<GeneratorState> state, GeneratorOptions options);

// A pass-through map; `on_event` may fail or throw for chosen events.
using EventHook = std::function<absl::Status(const Event&, const StageContext&)>;
ProducerConsumerFactory MakeMap(EventHook on_event = nullptr);

struct SinkLog {
  mutable Mutex mu;
  std::vector<std::string> values ABSL_GUARDED_BY(mu);
  std::vector<std::string> keys ABSL_GUARDED_BY(mu);
  std::vector<uint32_t> instances ABSL_GUARDED_BY(mu);
  std::vector<size_t> batch_sizes ABSL_GUARDED_BY(mu);

  size_t size() const {
    MutexLock lock(&mu);
    return values.size();
  }
  std::vector<std::string> Values() const {
    MutexLock lock(&mu);
    return values;
  }
};

// Records every event; `on_event` may fail or throw for chosen events.
ConsumerFactory MakeSink(std::shared_ptr<SinkLog> log, EventHook on_event = nullptr);

}  // namespace sluice::testing
