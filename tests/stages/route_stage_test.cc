// `type: route`: the `sluice.route` header each event leaves with (the
// config loader turns `subscribe: <stage>.<output>` into a selector on it),
// `_unmatched`, events matching several routes, headers kept, and its config
// errors.
#include "stages/json/route_stage.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/support/stage_harness.h"

namespace sluice::stages {
namespace {

using ::sluice::testing::CheckStage;
using ::sluice::testing::HarnessOptions;
using ::sluice::testing::RunStage;
using ::sluice::testing::StageRunResult;
using ::sluice::testing::TestEvent;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kRouter[] = R"(
type: route
field: /type
routes:
  orders: order
  refunds: [refund, chargeback]
)";

// The route header of each emitted event, in order.
std::vector<std::string> Routes(const StageRunResult& result) {
  std::vector<std::string> routes;
  for (const TestEvent& event : result.emitted) {
    std::string route = "<none>";
    for (const auto& [name, value] : event.headers) {
      if (name == "sluice.route") route = value;
    }
    routes.push_back(route);
  }
  return routes;
}

TEST(RouteStageTest, TagsEachEventWithTheOutputItsFieldSelects) {
  StageRunResult result = RunStage(kRouter, {{.key = "k1", .value = R"({"type": "order"})"},
                                             {.key = "k2", .value = R"({"type": "chargeback"})"},
                                             {.key = "k3", .value = R"({"type": "refund"})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(result.emitted, ElementsAre(TestEvent{.key = "k1",
                                                    .value = R"({"type": "order"})",
                                                    .headers = {{"sluice.route", "orders"}}},
                                          TestEvent{.key = "k2",
                                                    .value = R"({"type": "chargeback"})",
                                                    .headers = {{"sluice.route", "refunds"}}},
                                          TestEvent{.key = "k3",
                                                    .value = R"({"type": "refund"})",
                                                    .headers = {{"sluice.route", "refunds"}}}));
  EXPECT_EQ(result.report.events_acknowledged(), 3u);
}

TEST(RouteStageTest, SendsEventsMatchingNoRouteToUnmatched) {
  StageRunResult result = RunStage(kRouter, {{.value = R"({"type": "invoice"})"},
                                             {.value = R"({"kind": "order"})"},
                                             {.value = R"({"type": ["order"]})"},
                                             {.value = R"([1, 2])"},
                                             {.value = R"({"type": "order"})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Routes(result),
              ElementsAre("_unmatched", "_unmatched", "_unmatched", "_unmatched", "orders"));
  EXPECT_THAT(result.dead_letters, IsEmpty());
}

TEST(RouteStageTest, KeepsExistingHeadersAndAddsTheRouteLast) {
  StageRunResult result = RunStage(
      kRouter, {{.value = R"({"type": "order"})", .headers = {{"trace", "t-1"}, {"tenant", "a"}}}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.emitted.size(), 1u);
  EXPECT_EQ(result.emitted[0].headers,
            (Headers{{"trace", "t-1"}, {"tenant", "a"}, {"sluice.route", "orders"}}));
}

TEST(RouteStageTest, ReplacesTheRouteHeaderOfAnEarlierRouter) {
  StageRunResult result = RunStage(
      kRouter,
      {{.value = R"({"type": "refund"})", .headers = {{"sluice.route", "eu"}, {"trace", "t-2"}}}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.emitted.size(), 1u);
  EXPECT_EQ(result.emitted[0].headers, (Headers{{"trace", "t-2"}, {"sluice.route", "refunds"}}));
}

TEST(RouteStageTest, EmitsAnEventMatchingTwoRoutesOncePerRoute) {
  StageRunResult result =
      RunStage(R"(
type: route
field: /level
routes:
  alerts: [error, fatal]
  archive: [info, error]
)",
               {{.value = R"({"level": "error"})"}, {.value = R"({"level": "info"})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Routes(result), ElementsAre("alerts", "archive", "archive"));
  EXPECT_THAT(result.values(), ElementsAre(R"({"level": "error"})", R"({"level": "error"})",
                                           R"({"level": "info"})"));
  // The source's event is done once: both copies were acknowledged.
  EXPECT_EQ(result.report.events_emitted(), 2u);
  EXPECT_EQ(result.report.events_in_flight(), 0u);
}

TEST(RouteStageTest, ComparesValuesByJsonType) {
  StageRunResult result = RunStage(R"(
type: route
field: /code
routes:
  ok: [200, 204]
  text: "200"
  missing: null
)",
                                   {{.value = R"({"code": 200})"},
                                    {.value = R"({"code": "200"})"},
                                    {.value = R"({"code": 204.0})"},
                                    {.value = R"({"code": null})"},
                                    {.value = R"({"code": true})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Routes(result), ElementsAre("ok", "text", "ok", "missing", "_unmatched"));
}

TEST(RouteStageTest, TagsEveryBatchAlike) {
  std::vector<TestEvent> inputs;
  for (int i = 0; i < 20; ++i) {
    inputs.push_back({.value = i % 3 == 0 ? R"({"type": "order"})" : R"({"type": "other"})"});
  }
  StageRunResult result = RunStage(kRouter, inputs, HarnessOptions{.batch_size = 3});
  ASSERT_TRUE(result.status.ok()) << result.status;
  std::vector<std::string> routes = Routes(result);
  ASSERT_EQ(routes.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(routes[i], i % 3 == 0 ? "orders" : "_unmatched") << "event " << i;
  }
}

TEST(RouteStageTest, DeadLettersInvalidJsonRatherThanRoutingIt) {
  StageRunResult result =
      RunStage(kRouter, {{.value = R"({"type": "order")"}, {.value = R"({"type": "order"})"}});
  ASSERT_TRUE(result.status.ok()) << result.status;
  EXPECT_THAT(Routes(result), ElementsAre("orders"));
  ASSERT_EQ(result.dead_letters.size(), 1u);
  EXPECT_EQ(result.dead_letters[0].error,
            "INVALID_ARGUMENT: not valid JSON at byte 16: The JSON document has an improper "
            "structure: missing or superfluous commas, braces, missing keys, etc.");
}

TEST(RouteStageTest, ReportsTheReservedUnmatchedOutput) {
  absl::Status status = CheckStage("type: route\nfield: /t\nroutes:\n  _unmatched: x\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.ToString(),
              HasSubstr("stage.yaml:4:3: stage \"stage\": routes: \"_unmatched\" is reserved for "
                        "events that match no route"));
}

TEST(RouteStageTest, ReportsAnOutputNameASubscriptionCouldNotSpell) {
  EXPECT_THAT(CheckStage("type: route\nfield: /t\nroutes:\n  eu.west: x\n").ToString(),
              HasSubstr("routes: \"eu.west\" is not an output name (letters, digits, _ and -)"));
}

TEST(RouteStageTest, ReportsMissingOrEmptyRoutes) {
  EXPECT_THAT(CheckStage("type: route\nfield: /t\n").ToString(),
              HasSubstr("routes: required (a map of output name to the value or values that "
                        "select it)"));
  EXPECT_THAT(CheckStage("type: route\nfield: /t\nroutes: {}\n").ToString(),
              HasSubstr("routes: at least one route is required"));
  EXPECT_THAT(CheckStage("type: route\nfield: /t\nroutes: [a, b]\n").ToString(),
              HasSubstr("routes: expected a map of output name to value(s), got a list"));
  EXPECT_THAT(CheckStage("type: route\nfield: /t\nroutes:\n  a: {x: 1}\n").ToString(),
              HasSubstr("routes: a: expected a value or a list of values, got a map"));
}

TEST(RouteStageTest, ReportsAMisspelledOption) {
  EXPECT_THAT(CheckStage("type: route\nfeild: /t\nroutes: {a: x}\n").ToString(),
              HasSubstr("unknown key \"feild\"; did you mean \"field\"?"));
}

}  // namespace
}  // namespace sluice::stages
