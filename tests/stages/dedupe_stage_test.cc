// `type: dedupe`: which repeats it drops, its key memory (window and
// max_keys), that it reads time from the stage's clock, and its config errors.
#include "stages/flow/dedupe_stage.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/clock.h"
#include "pipeline/mutex.h"
#include "pipeline/pipeline.h"
#include "stages/flow/recent_keys.h"
#include "tests/support/stage_harness.h"

namespace sluice::stages {
namespace {

using ::sluice::testing::CheckStage;
using ::sluice::testing::ExpectEveryEventKeptOrDropped;
using ::sluice::testing::HarnessOptions;
using ::sluice::testing::RunStage;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TestEvent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Events with these keys, valued "<key>#<position>".
std::vector<TestEvent> Keyed(const std::vector<std::string>& keys) {
  std::vector<TestEvent> events;
  for (size_t i = 0; i < keys.size(); ++i) {
    events.push_back({.key = keys[i], .value = absl::StrCat(keys[i], "#", i)});
  }
  return events;
}

TEST(DedupeStageTest, DropsARepeatedKeyWithinTheWindow) {
  StageRunResult result = RunStage("type: dedupe\n", Keyed({"a", "b", "a", "c", "b", "a", "d"}));
  ExpectEveryEventKeptOrDropped(result, 7);
  EXPECT_THAT(result.values(), ElementsAre("a#0", "b#1", "c#3", "d#6"));
  EXPECT_EQ(result.report.events_dropped(), 3u);
  ASSERT_EQ(result.report.partitions.size(), 1u);
  EXPECT_EQ(result.report.partitions[0].commit_point, Offset(7));
}

TEST(DedupeStageTest, RemembersKeysAcrossBatches) {
  StageRunResult result =
      RunStage("type: dedupe\nwindow: 1h\n", Keyed({"a", "b", "a", "c", "b", "a", "d"}),
               HarnessOptions{.batch_size = 1});
  ExpectEveryEventKeptOrDropped(result, 7);
  EXPECT_THAT(result.values(), ElementsAre("a#0", "b#1", "c#3", "d#6"));
  EXPECT_EQ(result.report.events_dropped(), 3u);
}

TEST(DedupeStageTest, ForgetsTheOldestKeyPastMaxKeys) {
  // max_keys 2: "c" pushes out "a", so the next "a" passes (and pushes out
  // "b"); "c" is still remembered.
  StageRunResult result =
      RunStage("type: dedupe\nmax_keys: 2\n", Keyed({"a", "b", "c", "a", "c", "b"}));
  ExpectEveryEventKeptOrDropped(result, 6);
  EXPECT_THAT(result.values(), ElementsAre("a#0", "b#1", "c#2", "a#3", "b#5"));
  EXPECT_EQ(result.report.events_dropped(), 1u);
}

TEST(DedupeStageTest, ByHeaderComparesTheHeaderValue) {
  std::vector<TestEvent> inputs = {
      {.key = "k1", .value = "first", .headers = {{"order-id", "17"}}},
      {.key = "k2", .value = "same order, other key", .headers = {{"order-id", "17"}}},
      {.key = "k1", .value = "other order, same key", .headers = {{"order-id", "18"}}},
  };
  StageRunResult result = RunStage("type: dedupe\nby: header:order-id\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 3);
  EXPECT_THAT(result.values(), ElementsAre("first", "other order, same key"));
}

TEST(DedupeStageTest, EventsWithoutTheHeaderAlwaysPass) {
  std::vector<TestEvent> inputs = {
      {.key = "k", .value = "no header 1"},
      {.key = "k", .value = "no header 2"},
      {.key = "k", .value = "with header", .headers = {{"id", "1"}}},
      {.key = "k", .value = "with header again", .headers = {{"id", "1"}}},
  };
  StageRunResult result = RunStage("type: dedupe\nby: header:id\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 4);
  EXPECT_THAT(result.values(), ElementsAre("no header 1", "no header 2", "with header"));
}

TEST(DedupeStageTest, ByValueDropsIdenticalPayloads) {
  std::vector<TestEvent> inputs = {
      {.key = "1", .value = "x"}, {.key = "2", .value = "x"}, {.key = "3", .value = "y"}};
  StageRunResult result = RunStage("type: dedupe\nby: value\n", inputs);
  ExpectEveryEventKeptOrDropped(result, 3);
  EXPECT_THAT(result.values(), ElementsAre("x", "y"));
}

TEST(DedupeStageTest, RejectsAZeroWindowAndABadMaxKeysAtTheirPlaces) {
  absl::Status status = CheckStage("type: dedupe\nwindow: 0s\nmax_keys: 0\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:2:9: "));
  EXPECT_THAT(status.message(), HasSubstr("window: 0s is out of range: must be at least 1ns"));
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:3:11: "));
  EXPECT_THAT(status.message(), HasSubstr("max_keys: 0 is out of range: must be at least 1"));
}

TEST(DedupeStageTest, RejectsAWindowWithoutAUnit) {
  absl::Status status = CheckStage("type: dedupe\nwindow: 10\n");
  EXPECT_THAT(status.message(), HasSubstr("window: expected a duration with a unit"));
}

TEST(DedupeStageTest, UnknownKeyGetsADidYouMean) {
  absl::Status status = CheckStage("type: dedupe\nmax_key: 10\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stage.yaml:2:1: "));
  EXPECT_THAT(status.message(), HasSubstr("unknown key \"max_key\"; did you mean \"max_keys\"?"));
}

TEST(DedupeStageTest, RejectsAnUnknownBy) {
  absl::Status status = CheckStage("type: dedupe\nby: field\n");
  EXPECT_THAT(status.message(),
              HasSubstr("by: \"field\" is not one of: key, value, header:<name>"));
}

// RecentKeys, the memory behind the stage, with explicit times.

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(DedupeRecentKeysTest, ARepeatWithinTheWindowIsSeen) {
  RecentKeys recent(absl::Minutes(10), 100);
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart));
  EXPECT_TRUE(recent.SeenOrAdd(1, kStart + absl::Minutes(9)));
  EXPECT_FALSE(recent.SeenOrAdd(2, kStart + absl::Minutes(9)));
  EXPECT_EQ(recent.size(), 2u);
}

TEST(DedupeRecentKeysTest, ForgetsAKeyOnceItsWindowHasPassed) {
  RecentKeys recent(absl::Minutes(10), 100);
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart));
  EXPECT_TRUE(recent.SeenOrAdd(1, kStart + absl::Minutes(10) - absl::Nanoseconds(1)));
  // Exactly one window later the key is new again, and remembered anew.
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart + absl::Minutes(10)));
  EXPECT_TRUE(recent.SeenOrAdd(1, kStart + absl::Minutes(15)));
  EXPECT_EQ(recent.size(), 1u);
}

TEST(DedupeRecentKeysTest, ARepeatDoesNotExtendTheWindow) {
  RecentKeys recent(absl::Minutes(10), 100);
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart));
  EXPECT_TRUE(recent.SeenOrAdd(1, kStart + absl::Minutes(8)));
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart + absl::Minutes(11)));
}

TEST(DedupeRecentKeysTest, KeepsAtMostMaxKeysForgettingTheOldest) {
  RecentKeys recent(absl::Hours(1), 3);
  for (uint64_t hash = 1; hash <= 5; ++hash) EXPECT_FALSE(recent.SeenOrAdd(hash, kStart));
  EXPECT_EQ(recent.size(), 3u);
  EXPECT_TRUE(recent.SeenOrAdd(5, kStart));
  EXPECT_TRUE(recent.SeenOrAdd(3, kStart));
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart));  // forgotten; now 3, 4, 5 -> 4, 5, 1
  EXPECT_FALSE(recent.SeenOrAdd(3, kStart));  // pushed out by 1
}

TEST(DedupeRecentKeysTest, AClockSteppingBackForgetsNothingEarly) {
  RecentKeys recent(absl::Minutes(10), 100);
  EXPECT_FALSE(recent.SeenOrAdd(1, kStart));
  EXPECT_TRUE(recent.SeenOrAdd(1, kStart - absl::Hours(1)));
}

// End to end with an injected clock: the stage reads its StageContext's
// clock, so a test moves time without sleeping.

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixNanos(nanos_.load()); }
  void Advance(absl::Duration by) { nanos_.fetch_add(absl::ToInt64Nanoseconds(by)); }

 private:
  std::atomic<int64_t> nanos_{absl::ToUnixNanos(kStart)};
};

// Emits one phase of keys at a time: phase n once the sink has seen what
// phases before it let through (the sink advances the clock, then wakes us).
struct PhasedRun {
  std::vector<std::vector<std::string>> phases;
  // Events the sink must see before each next phase starts.
  std::vector<size_t> passed_after;
  std::vector<absl::Duration> advance_after;
  FakeClock clock;
  Mutex mu;
  size_t released ABSL_GUARDED_BY(mu) = 1;
  size_t emitted ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> seen ABSL_GUARDED_BY(mu);
  const StageContext* source ABSL_GUARDED_BY(mu) = nullptr;
};

class PhasedSource final : public Producer {
 public:
  PhasedSource(PhasedRun& run, const StageContext& context) : run_(run) {
    MutexLock lock(&run_.mu);
    run_.source = &context;
  }
  absl::Status HandleDemand(size_t, ProducerOutput& out) override {
    MutexLock lock(&run_.mu);
    while (run_.emitted < run_.released) {
      const size_t phase = run_.emitted++;
      for (const std::string& key : run_.phases[phase]) {
        const std::string value = absl::StrCat(key, "@", phase);
        out.batch().Append({.key = key, .value = value});
      }
    }
    if (run_.emitted == run_.phases.size()) out.Finish();
    return absl::OkStatus();
  }

 private:
  PhasedRun& run_;
};

class PhasedSink final : public Consumer {
 public:
  explicit PhasedSink(PhasedRun& run) : run_(run) {}
  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks&) override {
    MutexLock lock(&run_.mu);
    for (const Event& event : batch) run_.seen.emplace_back(event.value());
    const size_t phase = run_.released - 1;
    if (run_.released < run_.phases.size() && run_.seen.size() == run_.passed_after[phase]) {
      run_.clock.Advance(run_.advance_after[phase]);
      ++run_.released;
      run_.source->Wake();
    }
    return absl::OkStatus();
  }

 private:
  PhasedRun& run_;
};

TEST(DedupeStageTest, ForgetsAKeyWhenTheStageClockPassesItsWindow) {
  // window 10m. t0: a, b. t0+6m: a (repeat), c. t0+11m: a and b (their
  // windows from t0 have passed), c (seen at 6m: still a repeat).
  PhasedRun run;
  run.phases = {{"a", "b"}, {"a", "c"}, {"a", "c", "b"}};
  run.passed_after = {2, 3};
  run.advance_after = {absl::Minutes(6), absl::Minutes(5)};

  PipelineBuilder builder({.name = "dedupe-clock", .workers = 2, .clock = &run.clock});
  builder.AddProducer(
      "source", [&run](const StageContext& context) -> absl::StatusOr<std::unique_ptr<Producer>> {
        return std::make_unique<PhasedSource>(run, context);
      });
  builder.AddProducerConsumer("dedupe", DedupeStage::Factory({.window = absl::Minutes(10)}),
                              {.subscribe = {"source"}});
  builder.AddConsumer("sink",
                      [&run](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
                        return std::make_unique<PhasedSink>(run);
                      },
                      {.subscribe = {"dedupe"}});
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = std::move(builder).Build();
  ASSERT_TRUE(pipeline.ok()) << pipeline.status();
  ASSERT_TRUE((*pipeline)->Start().ok());
  RunReport report = (*pipeline)->Wait();
  ASSERT_TRUE(report.status.ok()) << report.status;

  MutexLock lock(&run.mu);
  EXPECT_THAT(run.seen, ElementsAre("a@0", "b@0", "c@1", "a@2", "b@2"));
  EXPECT_EQ(report.events_emitted(), 7u);
  EXPECT_EQ(report.events_dropped(), 2u);
  EXPECT_EQ(report.events_acknowledged(), 5u);
}

}  // namespace
}  // namespace sluice::stages
