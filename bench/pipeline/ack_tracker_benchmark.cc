// File: bench/pipeline/ack_tracker_benchmark.cc
//
// The AckTracker hot path: a source tracks a batch of 1000 offsets, sinks
// mark them done. Every benchmark reports events/s (one event = one offset
// tracked and completed). Batches are rebuilt each iteration, as a sink
// gathers its batch's offsets, so that cost (well under 1 ns an event) is in
// the numbers.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"

#include "pipeline/ack_tracker.h"

namespace sluice {
namespace {

constexpr size_t kBatchSize = 1000;
constexpr Partition kPartition{0};

void FillContiguous(int64_t first, std::vector<Offset>& offsets) {
  for (size_t i = 0; i < offsets.size(); ++i) offsets[i] = Offset(first + static_cast<int64_t>(i));
}

// TrackRange(1000), then Done() of the same 1000 offsets in order: the
// in-flight window empties every batch.
void BM_TrackRangeThenDoneInOrder(benchmark::State& state) {
  AckTracker tracker;
  std::vector<Offset> batch(kBatchSize);
  int64_t next = 0;
  for (auto _ : state) {
    tracker.TrackRange(kPartition, Offset(next), kBatchSize);
    FillContiguous(next, batch);
    tracker.Done(kPartition, batch);
    next += kBatchSize;
  }
  benchmark::DoNotOptimize(tracker.CommitPoint(kPartition));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
}
BENCHMARK(BM_TrackRangeThenDoneInOrder);

// Several batches in flight: the batch acked is the one tracked range(0)
// batches earlier, so the ring holds a sliding window and wraps.
void BM_TrackRangeThenDoneSlidingWindow(benchmark::State& state) {
  const int64_t batches_in_flight = state.range(0);
  AckTracker tracker;
  std::vector<Offset> batch(kBatchSize);
  int64_t next = 0;
  for (int64_t i = 0; i < batches_in_flight; ++i) {
    tracker.TrackRange(kPartition, Offset(next), kBatchSize);
    next += kBatchSize;
  }
  for (auto _ : state) {
    tracker.TrackRange(kPartition, Offset(next), kBatchSize);
    FillContiguous(next - batches_in_flight * static_cast<int64_t>(kBatchSize), batch);
    tracker.Done(kPartition, batch);
    next += kBatchSize;
  }
  benchmark::DoNotOptimize(tracker.CommitPoint(kPartition));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
}
BENCHMARK(BM_TrackRangeThenDoneSlidingWindow)->Arg(4)->Arg(64);

// Done() of a batch's offsets in a random order within one call.
void BM_TrackRangeThenDoneShuffled(benchmark::State& state) {
  AckTracker tracker;
  std::vector<int64_t> permutation(kBatchSize);
  std::iota(permutation.begin(), permutation.end(), 0);
  std::shuffle(permutation.begin(), permutation.end(), std::mt19937_64(42));
  std::vector<Offset> batch(kBatchSize);
  int64_t next = 0;
  for (auto _ : state) {
    tracker.TrackRange(kPartition, Offset(next), kBatchSize);
    for (size_t i = 0; i < kBatchSize; ++i) batch[i] = Offset(next + permutation[i]);
    tracker.Done(kPartition, batch);
    next += kBatchSize;
  }
  benchmark::DoNotOptimize(tracker.CommitPoint(kPartition));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
}
BENCHMARK(BM_TrackRangeThenDoneShuffled);

// Concurrent sinks finishing out of order: the batch is acked as range(0)
// slices, last slice first, one Done() call each. Nothing commits until the
// final call.
void BM_TrackRangeThenDoneReversedSlices(benchmark::State& state) {
  const size_t slice_size = kBatchSize / static_cast<size_t>(state.range(0));
  AckTracker tracker;
  std::vector<Offset> batch(kBatchSize);
  int64_t next = 0;
  for (auto _ : state) {
    tracker.TrackRange(kPartition, Offset(next), kBatchSize);
    FillContiguous(next, batch);
    for (size_t start = kBatchSize; start >= slice_size; start -= slice_size) {
      tracker.Done(kPartition,
                   absl::Span<const Offset>(batch).subspan(start - slice_size, slice_size));
    }
    next += kBatchSize;
  }
  benchmark::DoNotOptimize(tracker.CommitPoint(kPartition));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
}
BENCHMARK(BM_TrackRangeThenDoneReversedSlices)->Arg(10)->Arg(100);

// Compacted partition: every other offset missing, so Track() takes a span
// and Done() cannot index by offset. range(0) = 1: acked in order (each
// lookup hits the entry after the last one found); 0: shuffled (binary
// search).
void BM_GappedTrackThenDone(benchmark::State& state) {
  const bool in_order = state.range(0) == 1;
  AckTracker tracker;
  std::vector<int64_t> permutation(kBatchSize);
  std::iota(permutation.begin(), permutation.end(), 0);
  if (!in_order) std::shuffle(permutation.begin(), permutation.end(), std::mt19937_64(42));
  std::vector<Offset> tracked(kBatchSize);
  std::vector<Offset> completed(kBatchSize);
  int64_t next = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatchSize; ++i) tracked[i] = Offset(next + 2 * static_cast<int64_t>(i));
    tracker.Track(kPartition, tracked);
    for (size_t i = 0; i < kBatchSize; ++i) completed[i] = Offset(next + 2 * permutation[i]);
    tracker.Done(kPartition, completed);
    next += 2 * static_cast<int64_t>(kBatchSize);
  }
  benchmark::DoNotOptimize(tracker.CommitPoint(kPartition));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
}
BENCHMARK(BM_GappedTrackThenDone)->ArgName("in_order")->Arg(1)->Arg(0);

// A broadcast to three branches: AddRefs(2) and three Done() calls per batch.
void BM_BroadcastToThreeBranches(benchmark::State& state) {
  AckTracker tracker;
  std::vector<Offset> batch(kBatchSize);
  int64_t next = 0;
  for (auto _ : state) {
    tracker.TrackRange(kPartition, Offset(next), kBatchSize);
    FillContiguous(next, batch);
    tracker.AddRefs(kPartition, batch, 2);
    for (int branch = 0; branch < 3; ++branch) tracker.Done(kPartition, batch);
    next += kBatchSize;
  }
  benchmark::DoNotOptimize(tracker.CommitPoint(kPartition));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
}
BENCHMARK(BM_BroadcastToThreeBranches);

// One source, two acking threads on the same partition. Each iteration
// thread 0 tracks two batches and acks the first; thread 1 acks the second
// once it is tracked. Items count the events each thread acked.
struct SharedPartition {
  AckTracker tracker;
  // Batches tracked so far; release/acquire so an acker never acks a batch
  // before the source has tracked it.
  std::atomic<int64_t> tracked_batches{0};
};
std::unique_ptr<SharedPartition> shared_partition;

void BM_OneSourceTwoAckersSamePartition(benchmark::State& state) {
  // Before the loop's start barrier: thread 1 sees this once the loop runs.
  if (state.thread_index() == 0) shared_partition = std::make_unique<SharedPartition>();
  std::vector<Offset> batch(kBatchSize);
  int64_t iteration = 0;
  for (auto _ : state) {
    SharedPartition& shared = *shared_partition;
    const int64_t own_batch = 2 * iteration + state.thread_index();
    const int64_t own_first = own_batch * static_cast<int64_t>(kBatchSize);
    if (state.thread_index() == 0) {
      shared.tracker.TrackRange(kPartition, Offset(own_first), 2 * kBatchSize);
      shared.tracked_batches.store(own_batch + 2, std::memory_order_release);
    } else {
      while (shared.tracked_batches.load(std::memory_order_acquire) <= own_batch) {
        std::this_thread::yield();  // two cores are shared: let the source run
      }
    }
    FillContiguous(own_first, batch);
    shared.tracker.Done(kPartition, batch);
    ++iteration;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
  // After the loop's stop barrier: thread 1 no longer touches it.
  if (state.thread_index() == 0) shared_partition.reset();
}
BENCHMARK(BM_OneSourceTwoAckersSamePartition)->Threads(2)->UseRealTime();

// Each thread tracks and acks its own partition of one shared tracker: the
// cost of sharing the tracker's lock.
std::unique_ptr<AckTracker> shared_tracker;

void BM_ThreadPerPartition(benchmark::State& state) {
  if (state.thread_index() == 0) shared_tracker = std::make_unique<AckTracker>();
  const Partition partition(state.thread_index());
  std::vector<Offset> batch(kBatchSize);
  int64_t next = 0;
  for (auto _ : state) {
    shared_tracker->TrackRange(partition, Offset(next), kBatchSize);
    FillContiguous(next, batch);
    shared_tracker->Done(partition, batch);
    next += kBatchSize;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatchSize));
  if (state.thread_index() == 0) shared_tracker.reset();
}
BENCHMARK(BM_ThreadPerPartition)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace sluice
