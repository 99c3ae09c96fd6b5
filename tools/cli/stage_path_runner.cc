#include "tools/cli/stage_path_runner.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"

#include "pipeline/config/pipeline_config.h"
#include "pipeline/config/stage_registry.h"
#include "pipeline/mutex.h"

namespace sluice::cli {
namespace {

// What the runner's own `_path_input` / `_path_output` stages share with the
// run in progress.
struct PathState {
  std::vector<PathEvent> inputs;
  size_t batch_size = 0;
  Mutex mu;
  std::vector<PathEvent> outputs ABSL_GUARDED_BY(mu);
};
PathState* g_state = nullptr;

class PathInput final : public Producer {
 public:
  explicit PathInput(PathState& state) : state_(state) {}

  absl::Status HandleDemand(size_t demand, ProducerOutput& out) override {
    size_t count = std::min(demand, state_.inputs.size() - next_);
    if (state_.batch_size > 0) count = std::min(count, state_.batch_size);
    for (size_t i = 0; i < count; ++i, ++next_) {
      const PathEvent& event = state_.inputs[next_];
      headers_.clear();
      for (const auto& [key, value] : event.headers) headers_.push_back({key, value});
      out.batch().Append({.key = event.key,
                          .value = event.value,
                          .headers = headers_,
                          .timestamp_us = event.timestamp_us});
    }
    if (next_ == state_.inputs.size()) out.Finish();
    return absl::OkStatus();
  }

 private:
  PathState& state_;
  size_t next_ = 0;
  std::vector<Header> headers_;
};

class PathOutput final : public Consumer {
 public:
  explicit PathOutput(PathState& state) : state_(state) {}

  absl::Status HandleEvents(const EventBatch& batch, ConsumerAcks&) override {
    MutexLock lock(&state_.mu);
    for (const Event& event : batch) {
      PathEvent copy{.key = std::string(event.key()),
                     .value = std::string(event.value()),
                     .timestamp_us = event.timestamp_us()};
      for (const Header& header : event.headers()) {
        copy.headers.emplace_back(std::string(header.key), std::string(header.value));
      }
      state_.outputs.push_back(std::move(copy));
    }
    return absl::OkStatus();
  }

 private:
  PathState& state_;
};

ProducerFactory MakePathInput(StageTypeContext&) {
  return [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Producer>> {
    return std::make_unique<PathInput>(*g_state);
  };
}
SLUICE_REGISTER_PRODUCER("_path_input", MakePathInput);

ConsumerFactory MakePathOutput(StageTypeContext&) {
  return [](const StageContext&) -> absl::StatusOr<std::unique_ptr<Consumer>> {
    return std::make_unique<PathOutput>(*g_state);
  };
}
SLUICE_REGISTER_CONSUMER("_path_output", MakePathOutput);

SourceMark RunnerMark() {
  static const auto* const file =
      new std::shared_ptr<const std::string>(std::make_shared<const std::string>("<test>"));
  return SourceMark{*file, 0, 0};
}

ConfigNode Scalar(std::string value) { return ConfigNode::Scalar(std::move(value), RunnerMark()); }

ConfigNode StageNode(std::string name, std::string type, std::string subscribe) {
  ConfigNode node = ConfigNode::Map(RunnerMark());
  node.Set("name", RunnerMark(), Scalar(std::move(name)));
  node.Set("type", RunnerMark(), Scalar(std::move(type)));
  if (!subscribe.empty()) node.Set("subscribe", RunnerMark(), Scalar(std::move(subscribe)));
  return node;
}

const StageType* TypeOf(const ConfigNode& stage) {
  const ConfigNode* type = stage.Find("type");
  if (type == nullptr || !type->is_scalar()) return nullptr;
  return StageRegistry::Global().Find(type->scalar());
}

std::string NameOf(const ConfigNode& stage, size_t index) {
  const ConfigNode* name = stage.Find("name");
  if (name != nullptr && name->is_scalar()) return name->scalar();
  return index == 0 ? std::string("stage") : "stage" + std::to_string(index);
}

// The pipeline around the path, as a config tree that keeps the stages' own
// marks.
ConfigNode PipelineAround(const ConfigNode* pipeline_keys, std::vector<ConfigNode> stages,
                          bool source_first) {
  ConfigNode root = ConfigNode::Map(RunnerMark());
  if (pipeline_keys != nullptr && pipeline_keys->is_map()) {
    for (const ConfigNode::Entry& entry : pipeline_keys->entries()) {
      if (entry.key != "stages") root.Set(entry.key, entry.key_mark, entry.value);
    }
  }
  if (root.Find("dead_letter") == nullptr) {
    ConfigNode dead_letter = ConfigNode::Map(RunnerMark());
    dead_letter.Set("type", RunnerMark(), Scalar("memory"));
    root.Set("dead_letter", RunnerMark(), std::move(dead_letter));
  }
  if (root.Find("retry") == nullptr) {
    ConfigNode retry = ConfigNode::Map(RunnerMark());
    retry.Set("max_attempts", RunnerMark(), Scalar("1"));
    root.Set("retry", RunnerMark(), std::move(retry));
  }
  ConfigNode path = ConfigNode::Sequence(RunnerMark());
  const StageType* first = stages.empty() ? nullptr : TypeOf(stages.front());
  const StageType* last = stages.empty() ? nullptr : TypeOf(stages.back());
  const bool first_is_source = first != nullptr && first->supports(StageRole::kProducer) &&
                               (source_first || (!first->supports(StageRole::kProducerConsumer) &&
                                                 !first->supports(StageRole::kConsumer)));
  const bool last_is_sink = last != nullptr && last->supports(StageRole::kConsumer) &&
                            !last->supports(StageRole::kProducerConsumer) &&
                            !(stages.size() == 1 && first_is_source);
  std::string previous;
  if (!first_is_source) {
    path.Append(StageNode("_input", "_path_input", ""));
    previous = "_input";
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    ConfigNode stage = std::move(stages[i]);
    const std::string name = NameOf(stage, i);
    if (stage.Find("name") == nullptr) stage.Set("name", RunnerMark(), Scalar(name));
    // The path decides who feeds whom.
    auto& entries = stage.mutable_entries();
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [](const ConfigNode::Entry& e) { return e.key == "subscribe"; }),
                  entries.end());
    if (!previous.empty()) stage.Set("subscribe", RunnerMark(), Scalar(previous));
    previous = name;
    path.Append(std::move(stage));
  }
  if (!last_is_sink) path.Append(StageNode("_output", "_path_output", previous));
  root.Set("stages", RunnerMark(), std::move(path));
  return root;
}

}  // namespace

std::vector<std::string> PathRunResult::values() const {
  std::vector<std::string> values;
  for (const PathEvent& event : emitted) values.push_back(event.value);
  return values;
}

std::vector<std::string> PathRunResult::dead_letter_errors() const {
  std::vector<std::string> errors;
  for (const DeadLetter& letter : dead_letters) errors.push_back(letter.error);
  return errors;
}

PathRunResult RunStagePath(const ConfigNode* pipeline_keys, std::vector<ConfigNode> stages,
                           std::vector<PathEvent> inputs, const PathRunOptions& options) {
  PathRunResult result;
  PathState state;
  state.inputs = std::move(inputs);
  state.batch_size = options.batch_size;
  g_state = &state;
  struct ClearState {
    ~ClearState() { g_state = nullptr; }
  } clear_state;

  const ConfigNode root = PipelineAround(pipeline_keys, std::move(stages), options.source_first);
  absl::StatusOr<PipelineConfig> config = BuildPipelineConfig(root, {});
  if (!config.ok() || options.check_only) {
    result.status = config.status();
    return result;
  }
  std::shared_ptr<DeadLetterQueue> dead_letters = config->options.dead_letter;
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = MakePipeline(*std::move(config));
  if (!pipeline.ok()) {
    result.status = pipeline.status();
    return result;
  }
  if (absl::Status started = (*pipeline)->Start(); !started.ok()) {
    result.status = started;
    return result;
  }
  result.report = (*pipeline)->Wait();
  result.status = result.report.status;
  pipeline->reset();
  {
    MutexLock lock(&state.mu);
    result.emitted = std::move(state.outputs);
  }
  if (auto* memory = dynamic_cast<InMemoryDeadLetterQueue*>(dead_letters.get())) {
    result.dead_letters = memory->records();
  }
  return result;
}

}  // namespace sluice::cli
