// File: tests/pipeline/ack_tracker_test.cc
#include "pipeline/ack_tracker.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <initializer_list>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"

#include "pipeline/mutex.h"

namespace sluice {

// Reads what the public API does not show (see ack_tracker.h).
class AckTrackerTestPeer {
 public:
  static size_t ring_capacity(const AckTracker& tracker, Partition partition) {
    return tracker.ring_capacity(partition);
  }
};

namespace {

constexpr Partition kPartition{0};

std::vector<Offset> Offsets(std::initializer_list<int64_t> values) {
  std::vector<Offset> offsets;
  for (int64_t value : values) offsets.emplace_back(value);
  return offsets;
}

std::vector<Offset> OffsetRange(int64_t first, size_t count) {
  std::vector<Offset> offsets;
  offsets.reserve(count);
  for (size_t i = 0; i < count; ++i) offsets.emplace_back(first + static_cast<int64_t>(i));
  return offsets;
}

TEST(AckTrackerTest, CommitPointIsNulloptWhenNothingWasTracked) {
  AckTracker tracker;
  EXPECT_EQ(tracker.CommitPoint(kPartition), std::nullopt);
  EXPECT_EQ(tracker.in_flight(kPartition), 0u);
  EXPECT_EQ(tracker.in_flight(), 0u);
  EXPECT_TRUE(tracker.partitions().empty());
}

TEST(AckTrackerTest, CommitPointIsContiguousDonePrefixInHeaderExample) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({5, 6, 7, 8}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(5));

  tracker.Done(kPartition, Offsets({7}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(5));  // 5 and 6 in flight
  tracker.Done(kPartition, Offsets({5}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(6));
  tracker.Done(kPartition, Offsets({6}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(8));  // 7 was already done
  tracker.Done(kPartition, Offsets({8}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(9));  // next offset to read
  EXPECT_EQ(tracker.in_flight(kPartition), 0u);
}

TEST(AckTrackerTest, TrackRangeBehavesAsTrackOfEachOffset) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(100), 4);
  EXPECT_EQ(tracker.in_flight(kPartition), 4u);
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(100));
  tracker.Done(kPartition, Offsets({101, 103}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(100));
  tracker.Done(kPartition, Offsets({100}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(102));
  tracker.TrackRange(kPartition, Offset(104), 2);
  tracker.Done(kPartition, Offsets({102, 104}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(105));
  EXPECT_EQ(tracker.in_flight(kPartition), 1u);
}

TEST(AckTrackerTest, TrackRangeOfZeroOffsetsTracksNothing) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(7), 0);
  tracker.Track(kPartition, {});
  EXPECT_EQ(tracker.CommitPoint(kPartition), std::nullopt);
  EXPECT_TRUE(tracker.partitions().empty());
}

TEST(AckTrackerTest, CommitPointJumpsOverGapsInOffsets) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({5, 9}));
  tracker.Done(kPartition, Offsets({5}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(9));
  tracker.Done(kPartition, Offsets({9}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(10));
}

TEST(AckTrackerTest, CommitPointIsLastPlusOneWhenEverythingAfterAGapIsDone) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({5, 9, 10, 20}));
  tracker.Done(kPartition, Offsets({20, 10, 9}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(5));
  tracker.Done(kPartition, Offsets({5}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(21));
}

TEST(AckTrackerTest, DoneForOffsetsInAGapIsIgnored) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({5, 9, 12}));
  tracker.Done(kPartition, Offsets({6, 7, 8, 10, 11, 13, 4}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(5));
  EXPECT_EQ(tracker.in_flight(kPartition), 3u);
  tracker.Done(kPartition, Offsets({5, 9}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(12));
}

TEST(AckTrackerTest, GapThenContiguousRunIsFoundAfterHeadPassesTheGap) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({1, 2, 10}));
  tracker.TrackRange(kPartition, Offset(11), 5);  // 11..15, contiguous with 10
  tracker.Done(kPartition, Offsets({1, 2}));      // head now at 10: contiguous
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(10));
  tracker.Done(kPartition, Offsets({13, 11}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(10));
  tracker.Done(kPartition, Offsets({10, 12}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(14));
  EXPECT_EQ(tracker.in_flight(kPartition), 2u);
}

TEST(AckTrackerTest, BroadcastToThreeBranchesIsDoneAfterThreeCompletions) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({1, 2}));
  tracker.AddRefs(kPartition, Offsets({1}), 2);  // 1 went to 3 branches

  tracker.Done(kPartition, Offsets({1}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(1));
  tracker.Done(kPartition, Offsets({1}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(1));
  EXPECT_EQ(tracker.in_flight(kPartition), 2u);
  tracker.Done(kPartition, Offsets({1}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(2));
  EXPECT_EQ(tracker.in_flight(kPartition), 1u);
}

TEST(AckTrackerTest, AddRefsTouchesOnlyTheNamedOffsets) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(0), 3);
  tracker.AddRefs(kPartition, Offsets({1}), 1);
  tracker.Done(kPartition, Offsets({0, 1, 2}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(1));
  tracker.Done(kPartition, Offsets({1}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(3));
}

TEST(AckTrackerTest, AddRefsOnAGappedRingFindsEveryOffset) {
  AckTracker tracker;
  tracker.Track(kPartition, Offsets({2, 4, 6, 8}));
  tracker.AddRefs(kPartition, Offsets({4, 8, 5}), 2);  // 5 is a gap: ignored
  tracker.Done(kPartition, Offsets({2, 4, 6, 8}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(4));
  tracker.Done(kPartition, Offsets({4, 8, 4}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(8));
  tracker.Done(kPartition, Offsets({8}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(9));
}

TEST(AckTrackerTest, InFlightCountsEventsNotCompletions) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(0), 10);
  tracker.AddRefs(kPartition, OffsetRange(0, 10), 4);
  EXPECT_EQ(tracker.in_flight(kPartition), 10u);
  EXPECT_EQ(tracker.in_flight(), 10u);
  for (int branch = 0; branch < 4; ++branch) tracker.Done(kPartition, OffsetRange(0, 10));
  EXPECT_EQ(tracker.in_flight(kPartition), 10u);
  tracker.Done(kPartition, OffsetRange(5, 5));
  EXPECT_EQ(tracker.in_flight(kPartition), 5u);
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(0));
}

TEST(AckTrackerTest, InFlightSumsOverPartitions) {
  AckTracker tracker;
  tracker.TrackRange(Partition(0), Offset(0), 10);
  tracker.TrackRange(Partition(3), Offset(50), 5);
  tracker.Done(Partition(3), Offsets({51}));
  EXPECT_EQ(tracker.in_flight(Partition(0)), 10u);
  EXPECT_EQ(tracker.in_flight(Partition(3)), 4u);
  EXPECT_EQ(tracker.in_flight(Partition(1)), 0u);
  EXPECT_EQ(tracker.in_flight(), 14u);
}

TEST(AckTrackerTest, PartitionsListsTrackedPartitionsInOrder) {
  AckTracker tracker;
  tracker.TrackRange(Partition(7), Offset(0), 1);
  tracker.TrackRange(Partition(2), Offset(0), 1);
  tracker.TrackRange(Partition(4), Offset(0), 1);
  tracker.Done(Partition(4), Offsets({0}));  // done still counts as tracked
  EXPECT_EQ(tracker.partitions(),
            (std::vector<Partition>{Partition(2), Partition(4), Partition(7)}));
}

TEST(AckTrackerTest, PartitionsAreIndependent) {
  AckTracker tracker;
  tracker.TrackRange(Partition(0), Offset(10), 2);
  tracker.TrackRange(Partition(1), Offset(10), 2);
  tracker.Done(Partition(1), Offsets({10, 11}));
  EXPECT_EQ(tracker.CommitPoint(Partition(0)), Offset(10));
  EXPECT_EQ(tracker.CommitPoint(Partition(1)), Offset(12));
}

TEST(AckTrackerTest, DoneForUntrackedPartitionIsIgnored) {
  AckTracker tracker;
  tracker.Done(Partition(5), Offsets({1, 2, 3}));
  tracker.AddRefs(Partition(5), Offsets({1}), 2);
  EXPECT_EQ(tracker.CommitPoint(Partition(5)), std::nullopt);
  EXPECT_TRUE(tracker.partitions().empty());
}

TEST(AckTrackerTest, ResetForgetsPartitionAndIgnoresStaleCompletions) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(0), 10);
  tracker.TrackRange(Partition(1), Offset(0), 3);
  tracker.Done(kPartition, Offsets({0, 1}));

  tracker.Reset(kPartition);
  EXPECT_EQ(tracker.CommitPoint(kPartition), std::nullopt);
  EXPECT_EQ(tracker.in_flight(kPartition), 0u);
  EXPECT_EQ(tracker.in_flight(), 3u);  // partition 1 untouched
  EXPECT_EQ(tracker.partitions(), std::vector<Partition>{Partition(1)});

  // Completions of events emitted before the revoke arrive late.
  tracker.Done(kPartition, OffsetRange(2, 8));
  EXPECT_EQ(tracker.CommitPoint(kPartition), std::nullopt);
  EXPECT_EQ(tracker.in_flight(), 3u);

  // The partition comes back; the new events are past the stale ones.
  tracker.TrackRange(kPartition, Offset(20), 2);
  tracker.Done(kPartition, OffsetRange(2, 8));
  tracker.AddRefs(kPartition, OffsetRange(2, 8), 1);
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(20));
  EXPECT_EQ(tracker.in_flight(kPartition), 2u);
  tracker.Done(kPartition, Offsets({20, 21}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(22));
  EXPECT_EQ(tracker.CommitPoint(Partition(1)), Offset(0));
}

TEST(AckTrackerTest, ResetOfUntrackedPartitionIsHarmless) {
  AckTracker tracker;
  tracker.Reset(Partition(9));
  tracker.TrackRange(Partition(9), Offset(3), 1);
  EXPECT_EQ(tracker.CommitPoint(Partition(9)), Offset(3));
}

TEST(AckTrackerTest, DoneOfAnAlreadyCommittedOffsetIsIgnored) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(5), 3);
  tracker.Done(kPartition, Offsets({5}));
  // 5 is committed and freed: a repeat cannot be told from a stale completion.
  tracker.Done(kPartition, Offsets({5}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(6));
  EXPECT_EQ(tracker.in_flight(kPartition), 2u);
}

TEST(AckTrackerTest, ReverseOrderAcksCommitOnlyWhenTheFirstArrives) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(0), 5000);
  for (int64_t batch = 4; batch >= 1; --batch) {
    tracker.Done(kPartition, OffsetRange(batch * 1000, 1000));
    EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(0));
  }
  tracker.Done(kPartition, OffsetRange(0, 1000));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(5000));
  EXPECT_EQ(tracker.in_flight(), 0u);
}

// Event-by-event model of the contract in ack_tracker.h.
class ReferenceAckTracker {
 public:
  void Track(int64_t offset) {
    remaining_[offset] = 1;
    last_ = offset;
  }
  void AddRefs(int64_t offset, uint32_t extra) {
    auto it = remaining_.find(offset);
    if (it != remaining_.end() && it->second > 0) it->second += extra;
  }
  void Done(int64_t offset) {
    auto it = remaining_.find(offset);
    if (it != remaining_.end() && it->second > 0) --it->second;
  }
  std::optional<Offset> CommitPoint() const {
    if (!last_.has_value()) return std::nullopt;
    for (const auto& [offset, remaining] : remaining_) {
      if (remaining > 0) return Offset(offset);
    }
    return Offset(*last_ + 1);
  }
  size_t in_flight() const {
    return static_cast<size_t>(std::count_if(remaining_.begin(), remaining_.end(),
                                             [](const auto& entry) { return entry.second > 0; }));
  }
  void Reset() {
    remaining_.clear();
    last_.reset();
  }

 private:
  std::map<int64_t, uint32_t> remaining_;
  std::optional<int64_t> last_;
};

TEST(AckTrackerTest, RandomizedAcksMatchReferenceModel) {
  // SLUICE_TEST_SEED=<seed> replays a failure.
  const char* seed_override = std::getenv("SLUICE_TEST_SEED");
  const uint64_t seed =
      seed_override != nullptr ? std::strtoull(seed_override, nullptr, 10) : std::random_device{}();
  SCOPED_TRACE(testing::Message() << "SLUICE_TEST_SEED=" << seed);
  std::printf("RandomizedAcksMatchReferenceModel: SLUICE_TEST_SEED=%llu\n",
              static_cast<unsigned long long>(seed));
  std::mt19937_64 random(seed);
  auto uniform = [&random](int64_t low, int64_t high) {
    return std::uniform_int_distribution<int64_t>(low, high)(random);
  };

  constexpr int kPartitions = 3;
  AckTracker tracker;
  std::vector<ReferenceAckTracker> models(kPartitions);
  // One entry per completion owed; stale ones survive a Reset().
  std::vector<std::vector<int64_t>> owed(kPartitions);
  std::vector<int64_t> next_offset(kPartitions, 0);

  for (int step = 0; step < 20000; ++step) {
    const int index = static_cast<int>(uniform(0, kPartitions - 1));
    const Partition partition(index);
    ReferenceAckTracker& model = models[index];
    const int64_t action = uniform(0, 99);
    if (action < 30) {
      // Track a batch, contiguous or with gaps (compaction).
      const size_t count = static_cast<size_t>(uniform(1, 40));
      const bool gapped = uniform(0, 2) == 0;
      next_offset[index] += gapped ? uniform(0, 5) : 0;
      if (!gapped && uniform(0, 1) == 0) {
        tracker.TrackRange(partition, Offset(next_offset[index]), count);
        for (size_t i = 0; i < count; ++i) {
          model.Track(next_offset[index]);
          owed[index].push_back(next_offset[index]++);
        }
      } else {
        std::vector<Offset> batch;
        for (size_t i = 0; i < count; ++i) {
          batch.emplace_back(next_offset[index]);
          model.Track(next_offset[index]);
          owed[index].push_back(next_offset[index]);
          next_offset[index] += gapped ? uniform(1, 4) : 1;
        }
        tracker.Track(partition, batch);
      }
    } else if (action < 38) {
      // Broadcast some events that are not done yet.
      const std::optional<Offset> commit_point = model.CommitPoint();
      std::vector<Offset> broadcast;
      const uint32_t extra = static_cast<uint32_t>(uniform(1, 3));
      for (size_t i = 0; i < 5 && !owed[index].empty(); ++i) {
        const int64_t offset =
            owed[index]
                [static_cast<size_t>(uniform(0, static_cast<int64_t>(owed[index].size()) - 1))];
        // A stale offset (before a Reset) is below the commit point; skip it.
        if (!commit_point.has_value() || offset < commit_point->value()) continue;
        if (std::find(broadcast.begin(), broadcast.end(), Offset(offset)) != broadcast.end()) {
          continue;
        }
        broadcast.emplace_back(offset);
        model.AddRefs(offset, extra);
        for (uint32_t branch = 0; branch < extra; ++branch) owed[index].push_back(offset);
      }
      tracker.AddRefs(partition, broadcast, extra);
    } else if (action < 97) {
      // Complete a random handful of owed completions, in random order.
      std::vector<Offset> completed;
      const int64_t count = uniform(1, 60);
      for (int64_t i = 0; i < count && !owed[index].empty(); ++i) {
        const size_t pick =
            static_cast<size_t>(uniform(0, static_cast<int64_t>(owed[index].size()) - 1));
        std::swap(owed[index][pick], owed[index].back());
        completed.emplace_back(owed[index].back());
        model.Done(owed[index].back());
        owed[index].pop_back();
      }
      if (uniform(0, 9) == 0) completed.emplace_back(next_offset[index] + 100);  // never tracked
      tracker.Done(partition, completed);
    } else {
      // Revoke: forget the partition; its owed completions become stale.
      tracker.Reset(partition);
      model.Reset();
      next_offset[index] += 1000;  // re-assigned later, past the stale offsets
    }

    ASSERT_EQ(tracker.CommitPoint(partition), model.CommitPoint()) << "step " << step;
    ASSERT_EQ(tracker.in_flight(partition), model.in_flight()) << "step " << step;
  }
  size_t total_in_flight = 0;
  for (const ReferenceAckTracker& model : models) total_in_flight += model.in_flight();
  EXPECT_EQ(tracker.in_flight(), total_in_flight);
}

TEST(AckTrackerTest, ConcurrentTrackAndDoneEndsFullyCommitted) {
  constexpr int kPartitions = 3;
  constexpr int kBatchesPerPartition = 300;
  constexpr size_t kBatchSize = 1000;
  constexpr int kAckers = 3;
  constexpr uint32_t kBroadcastBranches = 3;

  struct Batch {
    Partition partition;
    std::vector<Offset> offsets;
  };
  // Batches on their way from the source to the ackers.
  struct Queue {
    Mutex mu;
    CondVar has_work_or_finished;
    std::deque<Batch> batches ABSL_GUARDED_BY(mu);
    bool source_finished ABSL_GUARDED_BY(mu) = false;
  } queue;

  AckTracker tracker;
  std::vector<int64_t> last_offset(kPartitions, -1);

  std::thread source([&] {
    int64_t next[kPartitions] = {0, 0, 0};
    for (int batch_index = 0; batch_index < kBatchesPerPartition; ++batch_index) {
      for (int index = 0; index < kPartitions; ++index) {
        const Partition partition(index);
        Batch batch{partition, {}};
        if (index == 1) {
          // Partition 1 is compacted: every other offset is missing.
          for (size_t i = 0; i < kBatchSize; ++i) {
            batch.offsets.emplace_back(next[index]);
            next[index] += 2;
          }
          tracker.Track(partition, batch.offsets);
        } else {
          tracker.TrackRange(partition, Offset(next[index]), kBatchSize);
          batch.offsets = OffsetRange(next[index], kBatchSize);
          next[index] += kBatchSize;
        }
        last_offset[index] = batch.offsets.back().value();
        // Partition 2 broadcasts every fifth batch to three branches.
        const bool broadcast = index == 2 && batch_index % 5 == 0;
        if (broadcast) tracker.AddRefs(partition, batch.offsets, kBroadcastBranches - 1);
        {
          MutexLock lock(&queue.mu);
          for (uint32_t copy = 1; broadcast && copy < kBroadcastBranches; ++copy) {
            queue.batches.push_back(batch);
          }
          queue.batches.push_back(std::move(batch));
        }
        queue.has_work_or_finished.notify_all();
      }
    }
    {
      MutexLock lock(&queue.mu);
      queue.source_finished = true;
    }
    queue.has_work_or_finished.notify_all();
  });

  std::vector<std::thread> ackers;
  for (int acker = 0; acker < kAckers; ++acker) {
    ackers.emplace_back([&, acker] {
      std::mt19937_64 random(static_cast<uint64_t>(acker));
      while (true) {
        Batch batch;
        {
          std::unique_lock<Mutex> lock(queue.mu);
          queue.has_work_or_finished.wait(
              lock, [&queue] { return !queue.batches.empty() || queue.source_finished; });
          if (queue.batches.empty()) return;
          batch = std::move(queue.batches.front());
          queue.batches.pop_front();
        }
        // Ack in four slices, in a random order, as concurrent sinks would.
        absl::Span<const Offset> offsets(batch.offsets);
        std::vector<absl::Span<const Offset>> slices;
        for (size_t start = 0; start < offsets.size(); start += offsets.size() / 4) {
          slices.push_back(offsets.subspan(start, offsets.size() / 4));
        }
        std::shuffle(slices.begin(), slices.end(), random);
        for (absl::Span<const Offset> slice : slices) tracker.Done(batch.partition, slice);
      }
    });
  }

  // Meanwhile the commit loop only ever sees the commit point move forward.
  std::atomic<bool> stop_reading{false};
  std::thread committer([&] {
    std::vector<int64_t> last_seen(kPartitions, -1);
    while (!stop_reading.load(std::memory_order_relaxed)) {
      for (int index = 0; index < kPartitions; ++index) {
        const std::optional<Offset> commit_point = tracker.CommitPoint(Partition(index));
        if (!commit_point.has_value()) continue;
        EXPECT_GE(commit_point->value(), last_seen[index]);
        last_seen[index] = commit_point->value();
      }
      std::this_thread::yield();
    }
  });

  source.join();
  for (std::thread& acker : ackers) acker.join();
  stop_reading.store(true, std::memory_order_relaxed);
  committer.join();

  for (int index = 0; index < kPartitions; ++index) {
    EXPECT_EQ(tracker.CommitPoint(Partition(index)), Offset(last_offset[index] + 1))
        << "partition " << index;
    EXPECT_EQ(tracker.in_flight(Partition(index)), 0u);
  }
  EXPECT_EQ(tracker.in_flight(), 0u);
}

TEST(AckTrackerTest, MemoryFollowsTheWindowNotHistoryOverTenMillionOffsets) {
  constexpr size_t kWindow = 1000;
  constexpr int64_t kTotal = 10'000'000;
  AckTracker tracker;
  std::vector<Offset> batch(kWindow);
  // Two batches in flight at a time: track the next before acking the last.
  tracker.TrackRange(kPartition, Offset(0), kWindow);
  for (int64_t first = kWindow; first < kTotal; first += kWindow) {
    tracker.TrackRange(kPartition, Offset(first), kWindow);
    for (size_t i = 0; i < kWindow; ++i) {
      batch[i] = Offset(first - static_cast<int64_t>(kWindow) + static_cast<int64_t>(i));
    }
    tracker.Done(kPartition, batch);
    ASSERT_EQ(tracker.in_flight(kPartition), kWindow);
  }
  tracker.Done(kPartition, OffsetRange(kTotal - static_cast<int64_t>(kWindow), kWindow));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(kTotal));
  EXPECT_EQ(tracker.in_flight(), 0u);
  // Two windows in flight, rounded up to a power of two.
  EXPECT_LE(AckTrackerTestPeer::ring_capacity(tracker, kPartition), 2048u);
}

TEST(AckTrackerTest, MemoryStaysBoundedWithGapsAndReverseAcks) {
  constexpr size_t kWindow = 1000;
  AckTracker tracker;
  std::vector<Offset> batch(kWindow);
  int64_t next = 0;
  for (int round = 0; round < 2000; ++round) {
    for (size_t i = 0; i < kWindow; ++i) {
      batch[i] = Offset(next);
      next += 3;
    }
    tracker.Track(kPartition, batch);
    std::reverse(batch.begin(), batch.end());
    tracker.Done(kPartition, batch);
    ASSERT_EQ(tracker.in_flight(kPartition), 0u);
  }
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(next - 3 + 1));
  EXPECT_LE(AckTrackerTestPeer::ring_capacity(tracker, kPartition), 1024u);
}

TEST(AckTrackerTest, RingShrinksBackAfterABurst) {
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(0), 100'000);
  EXPECT_GE(AckTrackerTestPeer::ring_capacity(tracker, kPartition), 100'000u);
  tracker.Done(kPartition, OffsetRange(0, 100'000));
  int64_t next = 100'000;
  for (int round = 0; round < 2000; ++round) {
    tracker.TrackRange(kPartition, Offset(next), 1000);
    tracker.Done(kPartition, OffsetRange(next, 1000));
    next += 1000;
  }
  EXPECT_EQ(tracker.in_flight(), 0u);
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(next));
  EXPECT_LE(AckTrackerTestPeer::ring_capacity(tracker, kPartition), 4096u);
}

TEST(AckTrackerTest, RingKeepsItsSizeWhenTheWindowEmptiesEveryBatch) {
  // Shrinking must not turn every batch into a reallocation.
  AckTracker tracker;
  int64_t next = 0;
  for (int round = 0; round < 200; ++round) {
    tracker.TrackRange(kPartition, Offset(next), 8000);
    tracker.Done(kPartition, OffsetRange(next, 8000));
    next += 8000;
  }
  EXPECT_EQ(AckTrackerTestPeer::ring_capacity(tracker, kPartition), 8192u);
}

TEST(AckTrackerDeathTest, DoneMoreTimesThanTrackedAssertsInDebugAndIsIgnoredInRelease) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(5), 3);
  tracker.Done(kPartition, Offsets({6}));
  EXPECT_DEBUG_DEATH(tracker.Done(kPartition, Offsets({6})), "more times than tracked");
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(5));
  EXPECT_EQ(tracker.in_flight(kPartition), 2u);
  tracker.Done(kPartition, Offsets({5}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(7));
  tracker.Done(kPartition, Offsets({7}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(8));
  EXPECT_EQ(tracker.in_flight(), 0u);
}

TEST(AckTrackerDeathTest, AddRefsOnADoneOffsetAssertsInDebugAndIsIgnoredInRelease) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(5), 2);
  tracker.Done(kPartition, Offsets({6}));
  EXPECT_DEBUG_DEATH(tracker.AddRefs(kPartition, Offsets({6}), 1), "already done");
  tracker.Done(kPartition, Offsets({5}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(7));
}

TEST(AckTrackerDeathTest, TrackingNonIncreasingOffsetsAssertsInDebugAndIsSkippedInRelease) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  AckTracker tracker;
  tracker.TrackRange(kPartition, Offset(10), 5);  // 10..14
  EXPECT_DEBUG_DEATH(tracker.Track(kPartition, Offsets({12, 20})), "must increase");
  EXPECT_DEBUG_DEATH(tracker.TrackRange(kPartition, Offset(13), 4), "must increase");
  tracker.Done(kPartition, OffsetRange(10, 5));
#ifdef NDEBUG
  // Release builds skipped 12 but kept 20, which then made all of 13..16
  // non-increasing.
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(20));
  tracker.Done(kPartition, Offsets({20}));
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(21));
#else
  EXPECT_EQ(tracker.CommitPoint(kPartition), Offset(15));
#endif
  EXPECT_EQ(tracker.in_flight(), 0u);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(AckTrackerDoneRangeTest, RangesCommitTheContiguousPrefixLikeListsDo) {
  AckTracker tracker;
  const Partition p(0);
  tracker.TrackRange(p, Offset(100), 10);
  tracker.DoneRange(p, Offset(103), 4);  // 103..106 done, 100 still in flight
  EXPECT_EQ(tracker.CommitPoint(p), Offset(100));
  EXPECT_EQ(tracker.in_flight(p), 6u);
  tracker.DoneRange(p, Offset(100), 3);
  EXPECT_EQ(tracker.CommitPoint(p), Offset(107));
  tracker.DoneRange(p, Offset(107), 3);
  EXPECT_EQ(tracker.CommitPoint(p), Offset(110));
  EXPECT_EQ(tracker.in_flight(), 0u);
  tracker.DoneRange(p, Offset(100), 10);  // stale: ignored
  EXPECT_EQ(tracker.CommitPoint(p), Offset(110));
}

TEST(AckTrackerDoneRangeTest, RangesOverGappedOffsetsCompleteOnlyTrackedOnes) {
  AckTracker tracker;
  const Partition p(2);
  const std::vector<Offset> offsets = {Offset(5), Offset(6), Offset(9), Offset(10)};
  tracker.Track(p, offsets);
  tracker.DoneRange(p, Offset(5), 6);  // 5..10: 7 and 8 were never tracked
  EXPECT_EQ(tracker.CommitPoint(p), Offset(11));
  EXPECT_EQ(tracker.in_flight(p), 0u);
}

}  // namespace
}  // namespace sluice
