// File: bench/peers/tbb_parallel_pipeline_peer.cc
//
// Peer "oneTBB parallel_pipeline": oneTBB's own answer to a linear staged
// pipeline, batched the way sluice batches.
//
// What it measures: tbb::parallel_pipeline with
//
//   serial_in_order filter (generator: fills a batch of B PeerEvents)
//     -> parallel filter  (map: transforms the batch in place)
//     -> serial_in_order filter (sink: consumes the batch, recycles it)
//
// and max_number_of_live_tokens = 16, so at most 16 batches are in flight; the
// batches come from a pool of 16 that the sink refills (a tbb::concurrent_queue),
// so memory is bounded and nothing is allocated per batch. Tokens are
// PeerBatch pointers. The pipeline runs in TBB's default arena (all cores), the
// calling thread included.
//
// Why it is a fair baseline: same events, same per-event work, same totals
// check as sluice's generator -> map -> sink bench, on the runtime sluice's
// scheduler uses. Unlike the flow graph it has no per-message graph
// bookkeeping and runs a token through all filters on one thread where it can,
// so at B=1000 it is close to the best oneTBB offers for this shape; B=1 shows
// its per-token cost.
//
// Argument: batch size B in {1, 1000}, and events per iteration.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "oneapi/tbb/concurrent_queue.h"
#include "oneapi/tbb/parallel_pipeline.h"

#include "bench/peers/peer_event.h"

namespace sluice::bench::peers {
namespace {

constexpr size_t kLiveTokens = 16;

void BM_TbbParallelPipeline(benchmark::State& state) {
  const auto batch_size = static_cast<size_t>(state.range(0));
  const auto events = static_cast<uint64_t>(state.range(1));
  const SinkTotals expected = ExpectedTotals(events);

  // A token holds one batch from its input filter to the end of its sink
  // filter, and the sink gives the batch back before the token is released, so
  // kLiveTokens batches always leave one free for the input filter.
  std::vector<std::unique_ptr<PeerBatch>> pool;
  tbb::concurrent_queue<PeerBatch*> free_batches;
  for (size_t i = 0; i < kLiveTokens; ++i) {
    pool.push_back(std::make_unique<PeerBatch>(batch_size));
    free_batches.push(pool.back().get());
  }

  for (auto _ : state) {
    SinkTotals totals;
    uint64_t next = 0;

    tbb::parallel_pipeline(
        kLiveTokens, tbb::make_filter<void, PeerBatch*>(
                         tbb::filter_mode::serial_in_order,
                         [&](tbb::flow_control& control) -> PeerBatch* {
                           if (next == events) {
                             control.stop();
                             return nullptr;
                           }
                           PeerBatch* batch = nullptr;
                           Backoff backoff;  // never expected to wait; see the pool's comment
                           while (!free_batches.try_pop(batch)) backoff.Pause();
                           const size_t n = std::min<uint64_t>(batch_size, events - next);
                           for (size_t i = 0; i < n; ++i) FillEvent(next + i, batch->events[i]);
                           batch->size = n;
                           next += n;
                           return batch;
                         }) &
                         tbb::make_filter<PeerBatch*, PeerBatch*>(tbb::filter_mode::parallel,
                                                                  [](PeerBatch* batch) {
                                                                    for (size_t i = 0;
                                                                         i < batch->size; ++i)
                                                                      MapEvent(batch->events[i]);
                                                                    return batch;
                                                                  }) &
                         tbb::make_filter<PeerBatch*, void>(
                             tbb::filter_mode::serial_in_order, [&](PeerBatch* batch) {
                               for (size_t i = 0; i < batch->size; ++i)
                                 totals.Consume(batch->events[i]);
                               free_batches.push(batch);
                             }));

    benchmark::DoNotOptimize(totals);
    if (!CheckTotals(state, totals, expected)) return;
  }
  ReportProcessed(state, static_cast<int64_t>(events));
}

BENCHMARK(BM_TbbParallelPipeline)
    ->ArgNames({"batch", "events"})
    ->Args({1, 1'000'000})
    ->Args({1000, 10'000'000})
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench::peers
