// `sluice test`: unit tests for a pipeline's stages, as `benthos test` gives
// Redpanda Connect users. A test names a path of stages, gives input events,
// and says what must come out, be dropped and be dead-lettered (with reasons).
//
//   tests:
//     - name: malformed lines are dead-lettered
//       stages: [parse, keep_errors]      # or `stage: parse`
//       input:
//         - value: '{"level": "error"}'
//         - {key: k1, value: "not json", headers: {trace: abc}}
//       expect:
//         output:
//           - value: '{"level": "error"}' # only the fields given are compared
//         dropped: 0
//         dead_letters:
//           - {value: "not json", error: "not valid JSON"}   # error: a substring
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "pipeline/config/config_errors.h"
#include "pipeline/config/option_reader.h"
#include "pipeline/string_view_compat.h"
#include "tools/cli/commands.h"
#include "tools/cli/stage_path_runner.h"
#include "tools/config/yaml_loader.h"

namespace sluice::cli {
namespace {

// An expected event: only the fields given are compared.
struct ExpectedEvent {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::string>> headers;
  // Dead letters only: a substring of the error text.
  std::optional<std::string> error;
};

struct TestCase {
  std::string name;
  SourceMark mark;
  std::vector<ConfigNode> stages;
  std::vector<PathEvent> input;
  std::optional<std::vector<ExpectedEvent>> output;
  std::optional<int64_t> dropped;
  std::optional<std::vector<ExpectedEvent>> dead_letters;
};

std::vector<std::pair<std::string, std::string>> ReadHeaders(OptionReader& reader) {
  std::vector<std::pair<std::string, std::string>> headers;
  const ConfigNode* node = reader.Node("headers");
  if (node == nullptr) return headers;
  if (!node->is_map()) {
    reader.Error("headers", "expected a map of header names to values");
    return headers;
  }
  for (const ConfigNode::Entry& entry : node->entries()) {
    if (!entry.value.is_scalar()) {
      reader.ErrorAt(entry.value.mark(),
                     absl::StrCat("headers: ", entry.key, ": expected a value"));
      continue;
    }
    headers.emplace_back(entry.key, entry.value.scalar());
  }
  return headers;
}

template <typename Read>
void ForEachMap(OptionReader& parent, std::string_view key, Read read) {
  const ConfigNode* list = parent.Node(key);
  if (list == nullptr) return;
  if (!list->is_sequence()) {
    parent.Error(key, "expected a list");
    return;
  }
  for (size_t i = 0; i < list->items().size(); ++i) {
    OptionReader item(&list->items()[i], absl::StrCat(parent.what(), ".", Av(key), "[", i, "]"),
                      parent.errors());
    read(item);
    item.Finish();
  }
}

std::vector<ExpectedEvent> ReadExpected(OptionReader& expect, std::string_view key,
                                        bool dead_letters) {
  std::vector<ExpectedEvent> events;
  ForEachMap(expect, key, [&](OptionReader& item) {
    ExpectedEvent event;
    event.key = item.String("key");
    event.value = item.String("value");
    event.headers = ReadHeaders(item);
    if (dead_letters) event.error = item.String("error");
    events.push_back(std::move(event));
  });
  return events;
}

std::vector<TestCase> ReadTests(const ConfigNode& tests_root, const ConfigNode& pipeline,
                                ConfigErrors& errors) {
  std::vector<TestCase> cases;
  OptionReader top(&tests_root, "tests file", errors);
  const ConfigNode* stages = pipeline.Find("stages");
  std::vector<std::string> names;
  if (stages != nullptr && stages->is_sequence()) {
    for (const ConfigNode& stage : stages->items()) {
      if (const ConfigNode* name = stage.Find("name"); name != nullptr && name->is_scalar()) {
        names.push_back(name->scalar());
      }
    }
  }
  auto find_stage = [&](const std::string& name) -> const ConfigNode* {
    if (stages == nullptr || !stages->is_sequence()) return nullptr;
    for (const ConfigNode& stage : stages->items()) {
      const ConfigNode* n = stage.Find("name");
      if (n != nullptr && n->is_scalar() && n->scalar() == name) return &stage;
    }
    return nullptr;
  };
  ForEachMap(top, "tests", [&](OptionReader& test) {
    TestCase c;
    c.mark = test.mark();
    c.name = test.String("name").value_or("(unnamed)");
    std::vector<std::string> path = test.StringList("stages").value_or(std::vector<std::string>{});
    if (std::optional<std::string> one = test.String("stage")) path.insert(path.begin(), *one);
    if (path.empty()) test.ErrorAt(test.mark(), "give `stage:` or `stages:`");
    for (const std::string& name : path) {
      const ConfigNode* stage = find_stage(name);
      if (stage == nullptr) {
        test.ErrorAt(test.mark(), absl::StrCat("no stage \"", name, "\" in the pipeline",
                                               DidYouMeanSuffix(name, names)));
        continue;
      }
      c.stages.push_back(*stage);
    }
    ForEachMap(test, "input", [&](OptionReader& item) {
      PathEvent event;
      event.key = item.String("key").value_or("");
      event.value = item.String("value").value_or("");
      event.headers = ReadHeaders(item);
      event.timestamp_us = item.Int("timestamp_us", 0).value_or(0);
      c.input.push_back(std::move(event));
    });
    OptionReader expect = test.Nested("expect");
    if (expect.has("output")) c.output = ReadExpected(expect, "output", false);
    c.dropped = expect.Int("dropped", 0);
    if (expect.has("dead_letters")) c.dead_letters = ReadExpected(expect, "dead_letters", true);
    expect.Finish();
    cases.push_back(std::move(c));
  });
  top.Finish();
  return cases;
}

std::string Quote(const std::string& text) { return absl::StrCat("\"", text, "\""); }

void Compare(std::string_view what, const ExpectedEvent& expected, const std::string& key,
             const std::string& value,
             const std::vector<std::pair<std::string, std::string>>& headers,
             const std::string* error, std::vector<std::string>& diff) {
  if (expected.key && *expected.key != key) {
    diff.push_back(
        absl::StrCat(Av(what), ": key: expected ", Quote(*expected.key), ", got ", Quote(key)));
  }
  if (expected.value && *expected.value != value) {
    diff.push_back(absl::StrCat(Av(what), ": value: expected ", Quote(*expected.value), ", got ",
                                Quote(value)));
  }
  for (const auto& [name, expected_value] : expected.headers) {
    auto it = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& header) { return header.first == name; });
    if (it == headers.end()) {
      diff.push_back(absl::StrCat(Av(what), ": header ", name, ": missing"));
    } else if (it->second != expected_value) {
      diff.push_back(absl::StrCat(Av(what), ": header ", name, ": expected ", Quote(expected_value),
                                  ", got ", Quote(it->second)));
    }
  }
  if (expected.error && error != nullptr && !absl::StrContains(*error, *expected.error)) {
    diff.push_back(absl::StrCat(Av(what), ": error: expected it to contain ",
                                Quote(*expected.error), ", got ", Quote(*error)));
  }
}

std::vector<std::string> Check(const TestCase& c, const PathRunResult& result) {
  std::vector<std::string> diff;
  if (!result.status.ok()) diff.push_back(absl::StrCat("run failed: ", result.status.ToString()));
  if (c.output) {
    const size_t n = std::max(c.output->size(), result.emitted.size());
    for (size_t i = 0; i < n; ++i) {
      const std::string what = absl::StrCat("output[", i, "]");
      if (i >= result.emitted.size()) {
        diff.push_back(absl::StrCat(what, ": expected an event, got none"));
      } else if (i >= c.output->size()) {
        diff.push_back(
            absl::StrCat(what, ": unexpected event, value ", Quote(result.emitted[i].value)));
      } else {
        const PathEvent& got = result.emitted[i];
        Compare(what, (*c.output)[i], got.key, got.value, got.headers, nullptr, diff);
      }
    }
  }
  if (c.dropped && static_cast<uint64_t>(*c.dropped) != result.report.events_dropped()) {
    diff.push_back(
        absl::StrCat("dropped: expected ", *c.dropped, ", got ", result.report.events_dropped()));
  }
  if (c.dead_letters) {
    const size_t n = std::max(c.dead_letters->size(), result.dead_letters.size());
    for (size_t i = 0; i < n; ++i) {
      const std::string what = absl::StrCat("dead_letters[", i, "]");
      if (i >= result.dead_letters.size()) {
        diff.push_back(absl::StrCat(what, ": expected a dead letter, got none"));
      } else if (i >= c.dead_letters->size()) {
        diff.push_back(absl::StrCat(what, ": unexpected dead letter, value ",
                                    Quote(result.dead_letters[i].value), ", error ",
                                    Quote(result.dead_letters[i].error)));
      } else {
        const DeadLetter& got = result.dead_letters[i];
        Compare(what, (*c.dead_letters)[i], got.key, got.value, got.headers, &got.error, diff);
      }
    }
  }
  return diff;
}

}  // namespace

int Test(const TestArgs& args) {
  // The whole pipeline must be valid before its parts are tested.
  absl::StatusOr<LoadedConfig> loaded = LoadConfig(args.config);
  if (!loaded.ok()) return ReportConfigError(loaded.status());
  const ConfigNode& pipeline = loaded->root;
  std::string tests_path = args.tests_path;
  if (tests_path.empty()) {
    std::filesystem::path path(args.config.config_path);
    tests_path = (path.parent_path() / (path.stem().string() + "_test.yaml")).string();
  }
  absl::StatusOr<ConfigNode> tests_root = config::LoadYamlFile(tests_path);
  if (!tests_root.ok()) return ReportConfigError(tests_root.status());
  ConfigErrors errors;
  std::vector<TestCase> cases = ReadTests(*tests_root, pipeline, errors);
  if (!errors.empty()) return ReportConfigError(errors.ToStatus());
  if (cases.empty()) {
    std::cerr << tests_path << ": no tests\n";
    return kExitConfig;
  }
  size_t failed = 0;
  for (TestCase& c : cases) {
    PathRunResult result = RunStagePath(&pipeline, c.stages, c.input);
    std::vector<std::string> diff = Check(c, result);
    if (diff.empty()) {
      std::cout << "PASS " << c.name << "\n";
      continue;
    }
    ++failed;
    std::cout << "FAIL " << c.name << " (" << c.mark.ToString() << ")\n";
    for (const std::string& line : diff) std::cout << "  " << line << "\n";
  }
  std::cout << (cases.size() - failed) << " passed, " << failed << " failed\n";
  return failed == 0 ? kExitOk : kExitRuntime;
}

}  // namespace sluice::cli
