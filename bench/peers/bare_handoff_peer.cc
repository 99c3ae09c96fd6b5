// File: bench/peers/bare_handoff_peer.cc
//
// Peer "bare hand-off": the ceiling for a three-stage in-memory pipeline.
//
// What it measures: three std::threads — generator, map, sink — move batches of
// plain PeerEvent structs (bench/peers/peer_event.h) through two
// moodycamel::ConcurrentQueue<PeerBatch*>, generator -> map -> sink. The sink
// gives every batch back through a third queue, and the generator only fills
// batches it got back, so at most kBatchesInFlight (64) batches exist: memory is
// bounded the way sluice's demand bounds it.
//
// Two ways to wait on an empty queue, because with three stage threads on a
// two-core machine the waiting strategy decides the result:
//   * Spin:     ConcurrentQueue; spin ~64 pauses, then std::this_thread::yield();
//   * Blocking: BlockingConcurrentQueue; spin, then sleep on a futex until woken
//               (a wake-up costs a syscall per hand-off, which hurts at small B).
//
// Why it is a fair baseline: it does the same per-event work as sluice's
// generator -> map -> sink bench (distinct 100-byte payloads written by the
// generator, read and updated by the map, consumed by the sink; totals checked)
// with nothing else: no scheduler, no demand protocol, no acknowledgement, no
// supervision, no metrics, one dedicated thread per stage and a lock-free queue
// between them. Whatever sluice adds on top is the price of those features;
// no general-purpose engine should beat this at the same batch size.
//
// Argument: batch size B in {1, 10, 100, 1000} (headline: 1000), and the events
// per iteration (fewer at small B so an iteration stays under ~2 s on two cores).
//
// BM_SingleThreadNoHandoff runs the same generator/map/sink work in one loop on
// one thread: the cost of the work alone, for reading the others.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "blockingconcurrentqueue.h"
#include "concurrentqueue.h"

#include "bench/peers/peer_event.h"

namespace sluice::bench::peers {
namespace {

// Batches allocated up front and recycled; the generator waits when all are in
// flight.
constexpr int kBatchesInFlight = 64;

// How a stage thread waits on an empty queue.
//   * SpinQueue: moodycamel::ConcurrentQueue; spin briefly, then yield (Backoff).
//   * BlockingQueue: moodycamel::BlockingConcurrentQueue; its semaphore spins,
//     then sleeps on a futex until an enqueue wakes it.
using SpinQueue = moodycamel::ConcurrentQueue<PeerBatch*>;
using BlockingQueue = moodycamel::BlockingConcurrentQueue<PeerBatch*>;

// Dequeues one batch, waiting while the queue is empty.
PeerBatch* DequeueWaiting(SpinQueue& queue, moodycamel::ConsumerToken& token) {
  PeerBatch* batch = nullptr;
  Backoff backoff;
  while (!queue.try_dequeue(token, batch)) backoff.Pause();
  return batch;
}
PeerBatch* DequeueWaiting(BlockingQueue& queue, moodycamel::ConsumerToken& token) {
  PeerBatch* batch = nullptr;
  queue.wait_dequeue(token, batch);
  return batch;
}

template <typename BatchQueue>
void RunBareHandoff(benchmark::State& state) {
  const auto batch_size = static_cast<size_t>(state.range(0));
  const auto events = static_cast<uint64_t>(state.range(1));
  const SinkTotals expected = ExpectedTotals(events);

  std::vector<std::unique_ptr<PeerBatch>> pool;
  BatchQueue free_batches(kBatchesInFlight);
  BatchQueue to_map(kBatchesInFlight);
  BatchQueue to_sink(kBatchesInFlight);
  for (int i = 0; i < kBatchesInFlight; ++i) {
    pool.push_back(std::make_unique<PeerBatch>(batch_size));
    free_batches.enqueue(pool.back().get());
  }

  for (auto _ : state) {
    SinkTotals totals;

    std::thread generator([&] {
      moodycamel::ProducerToken out(to_map);
      moodycamel::ConsumerToken recycled(free_batches);
      uint64_t seq = 0;
      while (seq < events) {
        PeerBatch* batch = DequeueWaiting(free_batches, recycled);
        const size_t n = std::min<uint64_t>(batch_size, events - seq);
        for (size_t i = 0; i < n; ++i) FillEvent(seq + i, batch->events[i]);
        batch->size = n;
        seq += n;
        to_map.enqueue(out, batch);
      }
    });

    std::thread map([&] {
      moodycamel::ConsumerToken in(to_map);
      moodycamel::ProducerToken out(to_sink);
      uint64_t seen = 0;
      while (seen < events) {
        PeerBatch* batch = DequeueWaiting(to_map, in);
        for (size_t i = 0; i < batch->size; ++i) MapEvent(batch->events[i]);
        seen += batch->size;
        to_sink.enqueue(out, batch);
      }
    });

    std::thread sink([&] {
      moodycamel::ConsumerToken in(to_sink);
      moodycamel::ProducerToken recycle(free_batches);
      SinkTotals local;
      while (local.count < events) {
        PeerBatch* batch = DequeueWaiting(to_sink, in);
        for (size_t i = 0; i < batch->size; ++i) local.Consume(batch->events[i]);
        free_batches.enqueue(recycle, batch);
      }
      totals = local;  // published to this thread by join()
    });

    generator.join();
    map.join();
    sink.join();
    benchmark::DoNotOptimize(totals);
    if (!CheckTotals(state, totals, expected)) return;
  }
  ReportProcessed(state, static_cast<int64_t>(events));
}

void BM_BareHandoff_Spin(benchmark::State& state) { RunBareHandoff<SpinQueue>(state); }
void BM_BareHandoff_Blocking(benchmark::State& state) { RunBareHandoff<BlockingQueue>(state); }

BENCHMARK(BM_BareHandoff_Spin)
    ->ArgNames({"batch", "events"})
    ->Args({1, 1'000'000})
    ->Args({10, 5'000'000})
    ->Args({100, 10'000'000})
    ->Args({1000, 10'000'000})
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_BareHandoff_Blocking)
    ->ArgNames({"batch", "events"})
    ->Args({1, 1'000'000})
    ->Args({10, 5'000'000})
    ->Args({100, 10'000'000})
    ->Args({1000, 10'000'000})
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

void BM_SingleThreadNoHandoff(benchmark::State& state) {
  const auto events = static_cast<uint64_t>(state.range(0));
  const SinkTotals expected = ExpectedTotals(events);
  for (auto _ : state) {
    SinkTotals totals;
    PeerEvent event;
    for (uint64_t seq = 0; seq < events; ++seq) {
      FillEvent(seq, event);
      benchmark::DoNotOptimize(event);
      MapEvent(event);
      benchmark::DoNotOptimize(event);
      totals.Consume(event);
    }
    benchmark::DoNotOptimize(totals);
    if (!CheckTotals(state, totals, expected)) return;
  }
  ReportProcessed(state, static_cast<int64_t>(events));
}

BENCHMARK(BM_SingleThreadNoHandoff)
    ->ArgNames({"events"})
    ->Arg(10'000'000)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::bench::peers
