// End-to-end throughput of the runtime, and the handoff between two stages by
// batch size. The shape is the one the peers in bench/peers/ run: an
// in-memory generator of 100-byte events with distinct payloads -> a map that
// touches every event -> a sink, with demand and acknowledgement on (every
// event is tracked by the source's AckTracker and acknowledged by the sink).
//
//   build/release/bench/sluice_pipeline_bench --benchmark_filter='Pipeline|Handoff'
#include <atomic>
#include <memory>

#include "benchmark/benchmark.h"

#include "connectors/generator/generator_source.h"
#include "connectors/null/null_sink.h"
#include "pipeline/pipeline.h"

namespace sluice {
namespace {

constexpr uint64_t kEvents = 10'000'000;
constexpr size_t kPayloadBytes = 100;

// Reads a byte of every event and passes it on unchanged (no payload copy).
class TouchMap final : public ProducerConsumer {
 public:
  absl::Status HandleEvents(const EventBatch& batch, Output& out) override {
    for (const Event& event : batch) {
      checksum_ += static_cast<unsigned char>(event.value()[8]);
      out.Emit(event);
    }
    benchmark::DoNotOptimize(checksum_);
    return absl::OkStatus();
  }

 private:
  uint64_t checksum_ = 0;
};

ProducerConsumerFactory TouchMapFactory() {
  return [](const StageContext&) -> absl::StatusOr<std::unique_ptr<ProducerConsumer>> {
    return std::make_unique<TouchMap>();
  };
}

void RunOrFail(benchmark::State& state, PipelineBuilder builder, uint64_t events) {
  auto pipeline = std::move(builder).Build();
  if (!pipeline.ok() || !(*pipeline)->Start().ok()) {
    state.SkipWithError("pipeline failed to start");
    return;
  }
  RunReport report = (*pipeline)->Wait();
  if (!report.status.ok() || report.events_acknowledged() != events)
    state.SkipWithError("events were lost");
}

// generator -> map -> null; the argument is max_demand (chunks of half).
void BM_PipelineGeneratorMapNull(benchmark::State& state) {
  const auto max_demand = static_cast<int64_t>(state.range(0));
  for (auto _ : state) {
    PipelineBuilder builder({.name = "bench", .workers = 2});
    builder.AddProducer(
        "gen",
        connectors::GeneratorSource::Factory({.count = kEvents, .payload_bytes = kPayloadBytes}),
        {.buffer_size = static_cast<size_t>(max_demand) * 4});
    builder.AddProducerConsumer("map", TouchMapFactory(),
                                {.subscribe = {"gen"},
                                 .max_demand = max_demand,
                                 .buffer_size = static_cast<size_t>(max_demand) * 4});
    builder.AddConsumer("sink", connectors::NullSink::Factory(),
                        {.subscribe = {"map"}, .max_demand = max_demand});
    RunOrFail(state, std::move(builder), kEvents);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kEvents));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kEvents * kPayloadBytes));
}
BENCHMARK(BM_PipelineGeneratorMapNull)
    ->Arg(1000)
    ->Arg(2000)
    ->Arg(8000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// generator -> null: the cost of one handoff, by chunk size (max_demand / 2).
void BM_HandoffBetweenTwoStages(benchmark::State& state) {
  const auto chunk = static_cast<int64_t>(state.range(0));
  const uint64_t events = chunk < 100 ? kEvents / 20 : kEvents;
  for (auto _ : state) {
    PipelineBuilder builder({.name = "handoff", .workers = 2});
    builder.AddProducer("gen", connectors::GeneratorSource::Factory(
                                   {.count = events, .payload_bytes = kPayloadBytes}));
    builder.AddConsumer("sink", connectors::NullSink::Factory(),
                        {.subscribe = {"gen"}, .max_demand = 2 * chunk});
    RunOrFail(state, std::move(builder), events);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events));
}
BENCHMARK(BM_HandoffBetweenTwoStages)
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->Arg(1000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sluice
