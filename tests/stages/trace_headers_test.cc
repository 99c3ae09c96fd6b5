// Issue #8: a W3C `traceparent` header stays on an event through every
// built-in processing stage, whether the stage passes the event as is,
// rewrites its value or key, or adds headers of its own, so its failure log
// line and dead-letter record downstream can show the trace id.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "pipeline/log.h"
#include "tests/support/stage_harness.h"

namespace sluice {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Pair;
using testing::RunStage;
using testing::TestEvent;

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::vector<TestEvent> TracedEvents() {
  return {{.key = "k1",
           .value = R"({"id":1,"type":"order","user":{"id":"u1"}})",
           .headers = {{"traceparent", kTraceparent}, {"other", "x"}}},
          {.key = "k2",
           .value = R"({"id":2,"type":"order","user":{"id":"u2"}})",
           .headers = {{"traceparent", kTraceparent}}}};
}

struct Case {
  const char* name;
  const char* yaml;
};

class TraceHeadersTest : public ::testing::TestWithParam<Case> {};

TEST_P(TraceHeadersTest, StageKeepsTheTraceparentHeader) {
  const testing::StageRunResult result = RunStage(GetParam().yaml, TracedEvents());
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.emitted.size(), 2u) << GetParam().name;
  for (const TestEvent& event : result.emitted) {
    EXPECT_THAT(event.headers, Contains(Pair("traceparent", kTraceparent))) << GetParam().name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Stages, TraceHeadersTest,
    ::testing::Values(Case{"json_parse", "type: json_parse\nrequired: [/id]\n"},
                      Case{"json_transform",
                           "type: json_transform\nrename: {/user/id: /user_id}\nset: {/v: 2}\n"},
                      Case{"filter", "type: filter\nfield: /type\nequals: order\n"},
                      Case{"set_key", "type: set_key\nfield: /user/id\n"},
                      Case{"fault", "type: fault\nfail_rate: 0\n"},
                      Case{"dedupe", "type: dedupe\nby: value\n"},
                      Case{"batch", "type: batch\nsize: 2\ntimeout: 50ms\n"},
                      Case{"delay", "type: delay\nduration: 1ms\n"}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

// A failed event's dead letter keeps the header and names its trace id.
TEST(TraceHeadersTest, DeadLetterCarriesTheTraceId) {
  const testing::StageRunResult result =
      RunStage("type: json_transform\nset: {/user/id/x: 1}\n", TracedEvents());
  ASSERT_EQ(result.dead_letters.size(), 2u);
  for (const DeadLetter& letter : result.dead_letters) {
    EXPECT_EQ(letter.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_THAT(letter.headers, Contains(Pair("traceparent", kTraceparent)));
    EXPECT_THAT(letter.error, HasSubstr("cannot set"));
  }
}

}  // namespace
}  // namespace sluice
