// The generator emits `count` events with `keys` distinct keys, renders its
// value template into the batch's own memory, paces itself to `rate`
// without blocking, and keeps its place across a restart.
#include "connectors/generator/generator_source.h"

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/clock.h"
#include "tests/support/stage_harness.h"

namespace sluice::connectors {
namespace {

using ::sluice::testing::RunSource;
using ::sluice::testing::StageRunResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration by) { now_ += by; }

 private:
  absl::Time now_;
};

std::vector<std::string> Values(const EventBatch& batch) {
  std::vector<std::string> values;
  for (const Event& event : batch) values.emplace_back(event.value());
  return values;
}

TEST(GeneratorSourceTest, EmitsCountEventsWithinDemandThenFinishes) {
  GeneratorSource generator({.count = 10}, 0, 1);
  ProducerOutput first;
  ASSERT_TRUE(generator.HandleDemand(4, first).ok());
  EXPECT_EQ(first.batch().size(), 4u);
  EXPECT_FALSE(first.finished());
  ProducerOutput second;
  ASSERT_TRUE(generator.HandleDemand(100, second).ok());
  EXPECT_EQ(second.batch().size(), 6u);
  EXPECT_TRUE(second.finished());
  EXPECT_EQ(second.batch()[0].value().size(), 100u);
}

TEST(GeneratorSourceTest, KeysCycleThroughTheirCardinality) {
  GeneratorSource generator({.count = 30, .keys = 3}, 0, 1);
  ProducerOutput out;
  ASSERT_TRUE(generator.HandleDemand(30, out).ok());
  std::set<std::string> keys;
  for (const Event& event : out.batch()) keys.emplace(event.key());
  EXPECT_THAT(keys, ElementsAre("key-0", "key-1", "key-2"));
  EXPECT_EQ(out.batch()[4].key(), "key-1");
}

TEST(GeneratorSourceTest, SplitsCountAcrossInstances) {
  std::set<std::string> values;
  size_t total = 0;
  for (uint32_t instance = 0; instance < 3; ++instance) {
    GeneratorSource generator({.count = 10, .value_template = "{{seq}}"}, instance, 3);
    ProducerOutput out;
    ASSERT_TRUE(generator.HandleDemand(100, out).ok());
    EXPECT_TRUE(out.finished());
    EXPECT_EQ(out.batch().size(), instance == 0 ? 4u : 3u);
    for (const Event& event : out.batch()) values.emplace(event.value());
    total += out.batch().size();
  }
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(values.size(), 10u);  // every sequence number once
}

TEST(GeneratorSourceTest, UnlimitedInstancesInterleaveSequenceNumbers) {
  GeneratorSource second({.value_template = "{{seq}}"}, 1, 2);
  ProducerOutput out;
  ASSERT_TRUE(second.HandleDemand(3, out).ok());
  EXPECT_FALSE(out.finished());
  EXPECT_THAT(Values(out.batch()), ElementsAre("1", "3", "5"));
}

TEST(GeneratorSourceTest, TemplateFillsPlaceholdersInTheBatchArena) {
  FakeClock clock(absl::FromUnixMicros(1'700'000'000'123'456));
  GeneratorSource generator(
      {.count = 3,
       .keys = 2,
       .value_template =
           R"({"id":{{seq}},"user":"{{key}}","ts":{{timestamp}},"us":{{timestamp_us}}})"},
      0, 1, {.clock = &clock});
  ProducerOutput out;
  ASSERT_TRUE(generator.HandleDemand(3, out).ok());
  EXPECT_THAT(Values(out.batch()),
              ElementsAre(R"({"id":0,"user":"key-0","ts":1700000000123,"us":1700000000123456})",
                          R"({"id":1,"user":"key-1","ts":1700000000123,"us":1700000000123456})",
                          R"({"id":2,"user":"key-0","ts":1700000000123,"us":1700000000123456})"));
  for (const Event& event : out.batch()) {
    EXPECT_TRUE(out.batch().OwnsBytes(event.value().data()));
    EXPECT_EQ(event.timestamp_us(), 1'700'000'000'123'456);
  }
}

TEST(GeneratorSourceTest, RandomIntsAreBoundedAndReproducible) {
  auto render = [](uint64_t seed) {
    GeneratorSource generator(
        {.count = 200, .value_template = "{{random_int:10}} {{random_int}}", .seed = seed}, 0, 1);
    ProducerOutput out;
    EXPECT_TRUE(generator.HandleDemand(200, out).ok());
    return Values(out.batch());
  };
  const std::vector<std::string> first = render(7);
  EXPECT_EQ(first, render(7));
  EXPECT_NE(first, render(8));
  std::set<int> small;
  for (const std::string& value : first) {
    const size_t space = value.find(' ');
    const int bounded = std::stoi(value.substr(0, space));
    const long wide = std::stol(value.substr(space + 1));
    EXPECT_GE(bounded, 0);
    EXPECT_LT(bounded, 10);
    EXPECT_GE(wide, 0);
    EXPECT_LT(wide, 1'000'000);
    small.insert(bounded);
  }
  EXPECT_EQ(small.size(), 10u);  // 200 draws cover all ten values
}

TEST(GeneratorSourceTest, LargeRunsSpanSeveralArenaChunks) {
  const std::string literal(1000, 'v');
  GeneratorSource generator({.count = 500, .value_template = literal + "{{seq}}"}, 0, 1);
  ProducerOutput out;
  ASSERT_TRUE(generator.HandleDemand(500, out).ok());
  ASSERT_EQ(out.batch().size(), 500u);
  EXPECT_EQ(out.batch()[499].value(), literal + "499");
}

TEST(ValueTemplateTest, RejectsUnknownAndUnclosedPlaceholders) {
  EXPECT_THAT(ValueTemplate::Parse("{{sequence}}").status().message(),
              HasSubstr("unknown placeholder {{sequence}}"));
  EXPECT_THAT(ValueTemplate::Parse("{\"a\": {{seq}").status().message(), HasSubstr("no closing"));
  EXPECT_FALSE(ValueTemplate::Parse("{{random_int:0}}").ok());
  EXPECT_FALSE(ValueTemplate::Parse("{{random_int:x}}").ok());
  EXPECT_TRUE(ValueTemplate::Parse("no placeholders at all").ok());
}

TEST(GeneratorSourceTest, RateLimitsWithoutBlockingAndAsksToBeWoken) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  std::vector<absl::Duration> wakes;
  GeneratorSource generator(
      {.count = 0, .rate = 100}, 0, 1,
      {.clock = &clock, .wake_after = [&wakes](absl::Duration delay) { wakes.push_back(delay); }});
  // Starts with a tenth of a second's worth (10 events), then waits.
  ProducerOutput burst;
  ASSERT_TRUE(generator.HandleDemand(1000, burst).ok());
  EXPECT_EQ(burst.batch().size(), 10u);
  ASSERT_EQ(wakes.size(), 1u);
  EXPECT_EQ(wakes[0], absl::Milliseconds(10));  // the next event is due in 1/100 s

  // Nothing more until time passes; no second wake-up while one is pending.
  ProducerOutput none;
  ASSERT_TRUE(generator.HandleDemand(1000, none).ok());
  EXPECT_EQ(none.batch().size(), 0u);
  EXPECT_EQ(wakes.size(), 1u);

  clock.Advance(absl::Milliseconds(50));
  ProducerOutput five;
  ASSERT_TRUE(generator.HandleDemand(1000, five).ok());
  EXPECT_EQ(five.batch().size(), 5u);
  EXPECT_EQ(wakes.size(), 2u);

  // After a long pause, only the burst, not ten seconds' worth.
  clock.Advance(absl::Seconds(10));
  ProducerOutput capped;
  ASSERT_TRUE(generator.HandleDemand(1000, capped).ok());
  EXPECT_EQ(capped.batch().size(), 10u);

  // Demand below what the rate allows asks for no wake-up.
  clock.Advance(absl::Seconds(1));
  const size_t wakes_before = wakes.size();
  ProducerOutput small;
  ASSERT_TRUE(generator.HandleDemand(3, small).ok());
  EXPECT_EQ(small.batch().size(), 3u);
  EXPECT_EQ(wakes.size(), wakes_before);
}

TEST(GeneratorSourceTest, RateIsSplitAcrossInstances) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  GeneratorSource generator({.rate = 400}, 0, 4, {.clock = &clock, .wake_after = [](auto) {}});
  clock.Advance(absl::Seconds(1));
  ProducerOutput out;
  ASSERT_TRUE(generator.HandleDemand(1000, out).ok());
  EXPECT_EQ(out.batch().size(), 10u);  // 100/s each: a burst of 10
}

TEST(GeneratorSourceTest, RestartedInstanceGoesOnWhereTheLastStopped) {
  std::atomic<uint64_t> progress{0};
  {
    GeneratorSource first({.count = 10, .value_template = "{{seq}}"}, 0, 1,
                          {.progress = &progress});
    ProducerOutput out;
    ASSERT_TRUE(first.HandleDemand(4, out).ok());
  }
  GeneratorSource restarted({.count = 10, .value_template = "{{seq}}"}, 0, 1,
                            {.progress = &progress});
  ProducerOutput out;
  ASSERT_TRUE(restarted.HandleDemand(100, out).ok());
  EXPECT_THAT(Values(out.batch()), ElementsAre("4", "5", "6", "7", "8", "9"));
  EXPECT_TRUE(out.finished());
}

TEST(GeneratorSourceTest, ValidateRejectsBadOptions) {
  EXPECT_FALSE(GeneratorSource::Validate({.payload_bytes = 4}).ok());
  EXPECT_FALSE(GeneratorSource::Validate({.rate = -1}).ok());
  EXPECT_FALSE(GeneratorSource::Validate({.value_template = "{{nope}}"}).ok());
  EXPECT_TRUE(GeneratorSource::Validate({.payload_bytes = 4, .value_template = "x"}).ok());
}

// Through the config loader and the runtime, as a pipeline file names it.

TEST(GeneratorConfigTest, RunsFromYamlWithATemplate) {
  StageRunResult result = RunSource(R"(
type: generator
count: 5
keys: 2
template: '{"n": {{seq}}, "k": "{{key}}"}'
)");
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.values(), ElementsAre(R"({"n": 0, "k": "key-0"})", R"({"n": 1, "k": "key-1"})",
                                           R"({"n": 2, "k": "key-0"})", R"({"n": 3, "k": "key-1"})",
                                           R"({"n": 4, "k": "key-0"})"));
  EXPECT_EQ(result.emitted[1].key, "key-1");
}

TEST(GeneratorConfigTest, RunsFromYamlWithPayloadBytesAndRate) {
  StageRunResult result = RunSource(R"(
type: generator
count: 300
payload_bytes: 32
rate: 100000
concurrency: 2
)");
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.emitted.size(), 300u);
  for (const auto& event : result.emitted) EXPECT_EQ(event.value.size(), 32u);
}

TEST(GeneratorConfigTest, TemplateAndPayloadBytesTogetherIsAConfigError) {
  StageRunResult result = RunSource(R"(
type: generator
payload_bytes: 64
template: '{{seq}}'
)");
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("not both"));
}

TEST(GeneratorConfigTest, UnknownPlaceholderIsAConfigErrorWithItsPlace) {
  StageRunResult result = RunSource("type: generator\ntemplate: '{{seqq}}'\n");
  EXPECT_EQ(result.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status.message(), HasSubstr("stage.yaml:2"));
  EXPECT_THAT(result.status.message(), HasSubstr("{{seqq}}"));
}

}  // namespace
}  // namespace sluice::connectors
