#include "pipeline/config/pipeline_config.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "pipeline/config/config_errors.h"
#include "pipeline/config/dead_letter_registry.h"
#include "pipeline/config/option_reader.h"
#include "pipeline/config/stage_registry.h"
#include "pipeline/string_view_compat.h"

namespace sluice {
namespace {

// The in-memory queue: for tests, and for runs that want nothing on disk.
std::shared_ptr<DeadLetterQueue> MakeMemoryQueue(DeadLetterTypeContext&) {
  return std::make_shared<InMemoryDeadLetterQueue>();
}
SLUICE_REGISTER_DEAD_LETTER("memory", MakeMemoryQueue);

// The keys every stage has, read here rather than by its type's maker.
constexpr const char* kCommonStageKeys[] = {
    "name",       "type",        "subscribe",    "concurrency", "max_demand",
    "min_demand", "dispatch",    "partition_by", "buffer_size", "buffer_keep",
    "retry",      "dead_letter", "supervision"};

std::string ResolvePath(const std::string& dir, const std::string& path) {
  if (path.empty() || dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(dir) / path).lexically_normal().string();
}

bool IsValidStageName(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

void ReadSupervision(OptionReader reader, SupervisionOptions& options) {
  if (auto strategy = reader.Enum<RestartStrategy>(
          "strategy", {{"one_for_one", RestartStrategy::kOneForOne},
                       {"one_for_all", RestartStrategy::kOneForAll},
                       {"rest_for_one", RestartStrategy::kRestForOne}})) {
    options.strategy = *strategy;
  }
  if (auto max_restarts = reader.Int("max_restarts", 0, 1'000'000)) {
    options.max_restarts = static_cast<int>(*max_restarts);
  }
  if (auto max_seconds = reader.Duration("max_seconds", absl::Milliseconds(1))) {
    options.max_seconds = *max_seconds;
  }
  reader.Finish();
}

void ReadRetry(OptionReader reader, RetryPolicy& policy) {
  if (auto max_attempts = reader.Int("max_attempts", 1, 1'000'000)) {
    policy.max_attempts = static_cast<uint32_t>(*max_attempts);
  }
  if (auto initial = reader.Duration("initial_backoff")) policy.initial_backoff = *initial;
  if (auto max_backoff = reader.Duration("max_backoff")) policy.max_backoff = *max_backoff;
  if (auto multiplier = reader.Double("multiplier", 1.0, 100.0)) policy.multiplier = *multiplier;
  if (auto jitter = reader.Double("jitter", 0.0, 1.0)) policy.jitter = *jitter;
  if (policy.max_backoff < policy.initial_backoff && !reader.failed()) {
    reader.Error("max_backoff", absl::StrCat("(", absl::FormatDuration(policy.max_backoff),
                                             ") must be at least initial_backoff (",
                                             absl::FormatDuration(policy.initial_backoff), ")"));
  }
  reader.Finish();
}

// Makes the queue a `dead_letter` block names; null (with errors) if invalid.
std::shared_ptr<DeadLetterQueue> ReadDeadLetter(OptionReader reader, std::string_view pipeline_name,
                                                const std::string& config_dir,
                                                const std::string& data_dir) {
  std::optional<std::string> type = reader.String("type");
  if (!type) {
    if (!reader.failed()) reader.ErrorAt(reader.mark(), "type: required (memory, file, ...)");
    return nullptr;
  }
  const DeadLetterMaker* maker = DeadLetterRegistry::Global().Find(*type);
  if (maker == nullptr) {
    std::vector<std::string> types = DeadLetterRegistry::Global().TypeNames();
    reader.Error("type", absl::StrCat("unknown dead-letter type \"", *type, "\"",
                                      DidYouMeanSuffix(*type, types),
                                      " (known: ", absl::StrJoin(types, ", "), ")"));
    return nullptr;
  }
  DeadLetterTypeContext context{
      .pipeline_name = pipeline_name,
      .config_dir = config_dir,
      .data_dir = data_dir,
      .options = reader,
  };
  std::shared_ptr<DeadLetterQueue> queue = (*maker)(context);
  reader.Finish();
  return reader.failed() ? nullptr : queue;
}

// What one `stages:` entry says, before roles and factories.
struct StageEntry {
  const ConfigNode* node = nullptr;
  std::string name;
  SourceMark name_mark;
  std::string type;
  SourceMark type_mark;
  const StageType* stage_type = nullptr;
  struct Subscription {
    std::string text;    // as written
    std::string stage;   // before the dot
    std::string output;  // after the dot, or ""
    SourceMark mark;
    size_t upstream = SIZE_MAX;  // index, once resolved
  };
  std::vector<Subscription> subscribe;
  std::vector<size_t> downstream;
  StageRole role = StageRole::kProducer;
  bool valid = true;  // false: skip role and topology checks for it
};

class ConfigBuilder {
 public:
  ConfigBuilder(const ConfigNode& root, const PipelineConfigContext& context)
      : root_(root), context_(context) {
    if (context.earlier_errors != nullptr) errors_ = *context.earlier_errors;
  }

  absl::StatusOr<PipelineConfig> Build() {
    OptionReader top(&root_, "pipeline", errors_);
    ReadPipelineKeys(top);
    ReadStageEntries(top);
    top.Finish();
    ResolveSubscriptions();
    AssignRoles();
    FindCycles();
    MakeStages();
    SLUICE_RETURN_IF_ERROR(errors_.ToStatus());
    return std::move(config_);
  }

 private:
  void ReadPipelineKeys(OptionReader& top) {
    PipelineOptions& options = config_.options;
    options.name = top.String("name").value_or(context_.default_name);
    config_.data_dir = ResolvePath(context_.config_dir,
                                   top.String("data_dir").value_or("sluice-data/" + options.name));
    if (auto timeout = top.Duration("shutdown_timeout")) options.shutdown_timeout = *timeout;
    if (auto workers = top.Int("workers", 0, 1024)) options.workers = static_cast<int>(*workers);
    // Top-level blocks are named by their key alone: "retry: jitter: ...".
    auto block = [&](const char* key) { return OptionReader(top.Node(key), key, errors_); };
    ReadSupervision(block("supervision"), options.supervision);
    ReadRetry(block("retry"), default_retry_);
    {
      OptionReader metrics = block("metrics");
      config_.metrics_address = metrics.String("address").value_or("");
      config_.metrics_token = metrics.String("token").value_or("");
      config_.metrics_admin = metrics.Bool("admin").value_or(false);
      config_.metrics_stuck_after =
          metrics.Duration("stuck_after", absl::Seconds(1)).value_or(config_.metrics_stuck_after);
      metrics.Finish();
    }
    {
      // `log: {format: text|json, level: info}` (pipeline/log.h); applied by
      // `sluice run`, which may override the format.
      OptionReader log = block("log");
      config_.log.format =
          log.Enum<LogFormat>("format", {{"text", LogFormat::kText}, {"json", LogFormat::kJson}})
              .value_or(config_.log.format);
      config_.log.level =
          log.Enum<spdlog::level::level_enum>("level", {{"trace", spdlog::level::trace},
                                                        {"debug", spdlog::level::debug},
                                                        {"info", spdlog::level::info},
                                                        {"warn", spdlog::level::warn},
                                                        {"error", spdlog::level::err},
                                                        {"off", spdlog::level::off}})
              .value_or(config_.log.level);
      log.Finish();
    }
    if (top.has("dead_letter")) {
      options.dead_letter =
          ReadDeadLetter(block("dead_letter"), options.name, context_.config_dir, config_.data_dir);
    } else {
      options.dead_letter = DefaultDeadLetter();
    }
  }

  // No `dead_letter:` block: a file under data_dir where the file backend is
  // linked, so that nothing is lost on a default setup; else memory.
  std::shared_ptr<DeadLetterQueue> DefaultDeadLetter() {
    if (const DeadLetterMaker* file = DeadLetterRegistry::Global().Find("file")) {
      ConfigNode empty = ConfigNode::Map(root_.mark());
      OptionReader reader(&empty, "dead_letter", errors_);
      DeadLetterTypeContext context{
          .pipeline_name = config_.options.name,
          .config_dir = context_.config_dir,
          .data_dir = config_.data_dir,
          .options = reader,
      };
      return (*file)(context);
    }
    return std::make_shared<InMemoryDeadLetterQueue>();
  }

  void ReadStageEntries(OptionReader& top) {
    const ConfigNode* stages = top.Node("stages");
    if (stages == nullptr) {
      top.ErrorAt(root_.mark(), "stages: required: a list of stages");
      return;
    }
    if (!stages->is_sequence()) {
      top.Error("stages", absl::StrCat("expected a list of stages, got ", Av(stages->kind_name())));
      return;
    }
    if (stages->items().empty()) top.Error("stages", "the pipeline has no stages");
    absl::flat_hash_map<std::string, size_t> first_index;
    for (size_t i = 0; i < stages->items().size(); ++i) {
      const ConfigNode& node = stages->items()[i];
      StageEntry entry;
      entry.node = &node;
      if (!node.is_map()) {
        errors_.Add(node.mark(),
                    absl::StrCat("stages[", i, "]: expected a map, got ", Av(node.kind_name())));
        continue;
      }
      const ConfigNode* name = node.Find("name");
      const std::string label = absl::StrCat("stages[", i, "]");
      if (name == nullptr || !name->is_scalar()) {
        errors_.Add(name ? name->mark() : node.mark(), absl::StrCat(label, ": name: required"));
        entry.valid = false;
        entry.name = label;
      } else {
        entry.name = name->scalar();
        entry.name_mark = name->mark();
        if (!IsValidStageName(entry.name)) {
          errors_.Add(name->mark(),
                      absl::StrCat("stage \"", entry.name,
                                   "\": name may hold only letters, digits, '_' and '-'"));
          entry.valid = false;
        }
        auto [it, inserted] = first_index.emplace(entry.name, entries_.size());
        if (!inserted) {
          errors_.Add(name->mark(),
                      absl::StrCat("stage \"", entry.name, "\" is declared twice (first at line ",
                                   entries_[it->second].name_mark.line, ")"));
          entry.valid = false;
        }
      }
      const std::string what = absl::StrCat("stage \"", entry.name, "\"");
      const ConfigNode* type = node.Find("type");
      if (type == nullptr || !type->is_scalar()) {
        errors_.Add(type ? type->mark() : node.mark(), absl::StrCat(what, ": type: required"));
        entry.valid = false;
      } else {
        entry.type = type->scalar();
        entry.type_mark = type->mark();
        entry.stage_type = StageRegistry::Global().Find(entry.type);
        if (entry.stage_type == nullptr) {
          std::vector<std::string> types = StageRegistry::Global().TypeNames();
          errors_.Add(type->mark(), absl::StrCat(what, ": unknown stage type \"", entry.type, "\"",
                                                 DidYouMeanSuffix(entry.type, types)));
          entry.valid = false;
        }
      }
      if (const ConfigNode* subscribe = node.Find("subscribe")) {
        std::vector<const ConfigNode*> items;
        if (subscribe->is_scalar()) {
          items.push_back(subscribe);
        } else if (subscribe->is_sequence()) {
          for (const ConfigNode& item : subscribe->items()) items.push_back(&item);
        } else if (!subscribe->is_null()) {
          errors_.Add(
              subscribe->mark(),
              absl::StrCat(what, ": subscribe: expected a stage name or a list of them, got ",
                           Av(subscribe->kind_name())));
        }
        for (const ConfigNode* item : items) {
          if (!item->is_scalar()) {
            errors_.Add(item->mark(), absl::StrCat(what, ": subscribe: expected a stage name, got ",
                                                   Av(item->kind_name())));
            continue;
          }
          StageEntry::Subscription subscription;
          subscription.text = item->scalar();
          subscription.mark = item->mark();
          const size_t dot = subscription.text.find('.');
          subscription.stage = subscription.text.substr(0, dot);
          if (dot != std::string::npos) subscription.output = subscription.text.substr(dot + 1);
          entry.subscribe.push_back(std::move(subscription));
        }
      }
      entries_.push_back(std::move(entry));
    }
  }

  void ResolveSubscriptions() {
    absl::flat_hash_map<std::string, size_t> index_of;
    std::vector<std::string> names;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (index_of.emplace(entries_[i].name, i).second) names.push_back(entries_[i].name);
    }
    for (size_t i = 0; i < entries_.size(); ++i) {
      StageEntry& entry = entries_[i];
      const std::string what = absl::StrCat("stage \"", entry.name, "\"");
      std::set<std::string> seen;
      std::set<size_t> routed_from;
      for (StageEntry::Subscription& subscription : entry.subscribe) {
        if (!seen.insert(subscription.text).second) {
          errors_.Add(subscription.mark,
                      absl::StrCat(what, ": subscribes to \"", subscription.text, "\" twice"));
          continue;
        }
        auto it = index_of.find(subscription.stage);
        if (it == index_of.end()) {
          unresolved_subscriptions_ = true;
          errors_.Add(subscription.mark,
                      absl::StrCat(what, ": subscribes to unknown stage \"", subscription.stage,
                                   "\"", DidYouMeanSuffix(subscription.stage, names)));
          continue;
        }
        if (it->second == i) {
          errors_.Add(subscription.mark, absl::StrCat(what, ": subscribes to itself"));
          continue;
        }
        const StageEntry& upstream = entries_[it->second];
        if (!subscription.output.empty()) {
          if (upstream.stage_type != nullptr && !upstream.stage_type->has_named_outputs) {
            // Reported, but the edge stays, so that the topology checks do
            // not pile further errors onto this one.
            errors_.Add(
                subscription.mark,
                absl::StrCat(what, ": \"", subscription.text, "\": stage \"", upstream.name,
                             "\" (type ", upstream.type, ") has no named outputs; subscribe to \"",
                             upstream.name, "\""));
            entry.valid = false;
          } else {
            routed_from.insert(it->second);
          }
        }
        if (std::any_of(entry.subscribe.begin(), entry.subscribe.end(), [&](const auto& other) {
              return &other != &subscription && other.upstream == it->second;
            })) {
          // "router.a" and "router.b" are one subscription with two outputs.
          continue;
        }
        subscription.upstream = it->second;
        entries_[it->second].downstream.push_back(i);
      }
      if (routed_from.size() > 1) {
        errors_.Add(entry.subscribe.front().mark,
                    absl::StrCat(what,
                                 ": subscribes to named outputs of more than one stage; "
                                 "put a stage between them"));
      }
    }
  }

  void AssignRoles() {
    for (StageEntry& entry : entries_) {
      const bool declared_upstream = !entry.subscribe.empty();
      const bool has_downstream = !entry.downstream.empty();
      if (!declared_upstream) {
        entry.role = StageRole::kProducer;
      } else if (!has_downstream) {
        entry.role = StageRole::kConsumer;
      } else {
        entry.role = StageRole::kProducerConsumer;
      }
      if (!entry.valid || entry.stage_type == nullptr) continue;
      const StageType& type = *entry.stage_type;
      const std::string what = absl::StrCat("stage \"", entry.name, "\" (type ", entry.type, ")");
      if (entry.role == StageRole::kProducer) {
        if (!type.supports(StageRole::kProducer)) {
          errors_.Add(entry.name_mark,
                      absl::StrCat(what,
                                   " subscribes to nothing, so it will never receive events; "
                                   "add `subscribe:`"));
          entry.valid = false;
        } else if (!has_downstream && !unresolved_subscriptions_) {
          errors_.Add(entry.name_mark,
                      absl::StrCat(what,
                                   " is a source with no subscribers, so its events go "
                                   "nowhere; subscribe a stage to it"));
          entry.valid = false;
        }
      } else if (!type.supports(entry.role)) {
        if (type.supports(StageRole::kProducer) && !type.supports(StageRole::kProducerConsumer) &&
            !type.supports(StageRole::kConsumer)) {
          errors_.Add(entry.subscribe.front().mark,
                      absl::StrCat(what, " is a source and cannot subscribe to other stages"));
        } else if (entry.role == StageRole::kConsumer) {
          // A misspelt `subscribe:` elsewhere may well have meant this stage:
          // that error is the one to fix.
          if (!unresolved_subscriptions_) {
            errors_.Add(entry.name_mark, absl::StrCat(what,
                                                      " has no subscribers, so its events go "
                                                      "nowhere; subscribe a stage to it"));
          }
        } else {
          errors_.Add(entry.name_mark,
                      absl::StrCat(what, " is a sink: nothing can subscribe to it"));
        }
        entry.valid = false;
      }
    }
  }

  void FindCycles() {
    // Colour DFS over upstream edges; a grey upstream closes a cycle.
    std::vector<int> colour(entries_.size(), 0);
    std::vector<size_t> path;
    std::set<std::vector<size_t>> reported;
    std::function<void(size_t)> visit = [&](size_t i) {
      colour[i] = 1;
      path.push_back(i);
      for (const StageEntry::Subscription& subscription : entries_[i].subscribe) {
        const size_t up = subscription.upstream;
        if (up == SIZE_MAX) continue;
        if (colour[up] == 1) {
          auto start = std::find(path.begin(), path.end(), up);
          std::vector<size_t> cycle(start, path.end());
          std::vector<size_t> key = cycle;
          std::sort(key.begin(), key.end());
          if (!reported.insert(key).second) continue;
          std::vector<std::string> names;
          for (size_t k : cycle) names.push_back(entries_[k].name);
          names.push_back(entries_[up].name);
          errors_.Add(subscription.mark,
                      absl::StrCat("stage \"", entries_[i].name, "\": subscriptions form a cycle: ",
                                   absl::StrJoin(names, " <- ")));
          for (size_t k : cycle) entries_[k].valid = false;
        } else if (colour[up] == 0) {
          visit(up);
        }
      }
      path.pop_back();
      colour[i] = 2;
    };
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (colour[i] == 0) visit(i);
    }
  }

  void MakeStages() {
    for (StageEntry& entry : entries_) {
      if (entry.node == nullptr) continue;
      OptionReader reader(entry.node, absl::StrCat("stage \"", entry.name, "\""), errors_);
      for (const char* key : kCommonStageKeys) reader.Known(key);
      StageSpec spec;
      spec.name = entry.name;
      spec.role = entry.role;
      StageGraphEntry graph{.name = entry.name, .type = entry.type, .role = entry.role};
      ReadCommonOptions(reader, entry, spec.options, graph);
      if (entry.stage_type == nullptr) {
        // Without its type we cannot tell its own keys from typos.
        continue;
      }
      StageTypeContext context{
          .pipeline_name = config_.options.name,
          .stage_name = entry.name,
          .config_dir = context_.config_dir,
          .data_dir = config_.data_dir,
          .options = reader,
          .concurrency = spec.options.concurrency,
          .max_demand = spec.options.max_demand,
          .probes = config_.probes.get(),
      };
      const StageType& type = *entry.stage_type;
      // A stage in the wrong role still gets its options checked, in the
      // role its type has.
      StageRole role = entry.role;
      if (!type.supports(role)) {
        role = type.supports(StageRole::kProducerConsumer) ? StageRole::kProducerConsumer
               : type.supports(StageRole::kProducer)       ? StageRole::kProducer
                                                           : StageRole::kConsumer;
      }
      switch (role) {
        case StageRole::kProducer:
          spec.producer_factory = type.producer(context);
          break;
        case StageRole::kProducerConsumer:
          spec.producer_consumer_factory = type.producer_consumer(context);
          break;
        case StageRole::kConsumer:
          spec.consumer_factory = type.consumer(context);
          break;
      }
      reader.Finish();
      if (!entry.valid || reader.failed()) continue;
      config_.stages.push_back(std::move(spec));
      config_.graph.push_back(std::move(graph));
    }
  }

  void ReadCommonOptions(OptionReader& reader, const StageEntry& entry, StageOptions& options,
                         StageGraphEntry& graph) {
    for (const StageEntry::Subscription& subscription : entry.subscribe) {
      graph.subscribe.push_back(subscription.text);
      if (subscription.upstream != SIZE_MAX) {
        options.subscribe.push_back(entries_[subscription.upstream].name);
      }
    }
    // Named outputs: this stage wants only the events tagged for the outputs
    // it subscribed to.
    std::vector<std::string> outputs;
    for (const StageEntry::Subscription& subscription : entry.subscribe) {
      if (!subscription.output.empty()) outputs.push_back(subscription.output);
    }
    if (!outputs.empty()) {
      options.selector = [outputs](const Event& event) {
        std::optional<std::string_view> route = event.header(kRouteHeader);
        return route && std::find(outputs.begin(), outputs.end(), *route) != outputs.end();
      };
    }

    if (auto concurrency = reader.Int("concurrency", 1, 100'000)) {
      options.concurrency = static_cast<uint32_t>(*concurrency);
    }
    if (auto max_demand = reader.Int("max_demand", 1, 100'000'000)) {
      options.max_demand = *max_demand;
    }
    if (auto min_demand = reader.Int("min_demand", 0, 100'000'000)) {
      if (*min_demand >= options.max_demand) {
        reader.Error("min_demand",
                     absl::StrCat("(", *min_demand, ") must be less than max_demand (",
                                  options.max_demand, ")"));
      } else {
        options.min_demand = *min_demand;
      }
    }
    const bool named_outputs = entry.stage_type != nullptr && entry.stage_type->has_named_outputs;
    if (auto dispatch =
            reader.Enum<DispatchMode>("dispatch", {{"demand", DispatchMode::kDemand},
                                                   {"broadcast", DispatchMode::kBroadcast},
                                                   {"partition", DispatchMode::kPartition}})) {
      options.dispatch = *dispatch;
      if (named_outputs && *dispatch != DispatchMode::kBroadcast) {
        reader.Error("dispatch", absl::StrCat("a ", entry.type,
                                              " stage sends each event to its named output; "
                                              "only `broadcast` is possible"));
      }
    }
    if (named_outputs) options.dispatch = DispatchMode::kBroadcast;
    if (auto partition_by = reader.String("partition_by")) {
      graph.partition_by = *partition_by;
      if (*partition_by == "key") {
        options.partition_by = nullptr;
      } else if (absl::StartsWith(*partition_by, "header:") && partition_by->size() > 7) {
        std::string header = partition_by->substr(7);
        options.partition_by = [header](const Event& event) -> std::string_view {
          return event.header(header).value_or(std::string_view());
        };
      } else if (*partition_by == "source_partition") {
        // The partition the event came from at its source (a Kafka
        // partition): one consumer instance per source partition keeps
        // its order end to end. Hashes the partition number's bytes,
        // which live in the event as long as the view is used.
        options.partition_by = [](const Event& event) -> std::string_view {
          const Partition& partition = event.origin().partition;
          return {reinterpret_cast<const char*>(&partition), sizeof(partition)};
        };
      } else {
        reader.Error("partition_by",
                     absl::StrCat("\"", *partition_by,
                                  "\" is not `key`, `header:<name>` or `source_partition`"));
      }
      if (options.dispatch != DispatchMode::kPartition && !reader.failed()) {
        reader.Error("partition_by", "only means something with `dispatch: partition`");
      }
    }
    if (auto buffer_size = reader.Int("buffer_size", 1, 100'000'000)) {
      options.buffer_size = static_cast<size_t>(*buffer_size);
    }
    if (auto keep = reader.Enum<BufferKeep>(
            "buffer_keep", {{"first", BufferKeep::kFirst}, {"last", BufferKeep::kLast}})) {
      options.buffer_keep = *keep;
    }
    options.retry = default_retry_;
    if (reader.has("retry")) ReadRetry(reader.Nested("retry"), options.retry);
    if (reader.has("supervision"))
      ReadSupervision(reader.Nested("supervision"), options.supervision);
    if (reader.has("dead_letter")) {
      options.dead_letter = ReadDeadLetter(reader.Nested("dead_letter"), config_.options.name,
                                           context_.config_dir, config_.data_dir);
    }
    graph.concurrency = options.concurrency;
    graph.dispatch = options.dispatch;
    graph.max_demand = options.max_demand;
    graph.min_demand = options.effective_min_demand();
  }

  const ConfigNode& root_;
  const PipelineConfigContext& context_;
  ConfigErrors errors_;
  PipelineConfig config_;
  RetryPolicy default_retry_;
  std::vector<StageEntry> entries_;
  // A `subscribe:` named no stage: "has no subscribers" may follow from it.
  bool unresolved_subscriptions_ = false;
};

}  // namespace

absl::StatusOr<PipelineConfig> BuildPipelineConfig(const ConfigNode& root,
                                                   const PipelineConfigContext& context) {
  if (!root.is_map()) {
    ConfigErrors errors;
    if (context.earlier_errors != nullptr) errors = *context.earlier_errors;
    errors.Add(root.mark(), absl::StrCat("expected the pipeline as a map of keys (name, stages, "
                                         "...), got ",
                                         Av(root.kind_name())));
    return errors.ToStatus();
  }
  return ConfigBuilder(root, context).Build();
}

absl::StatusOr<std::unique_ptr<Pipeline>> MakePipeline(PipelineConfig config) {
  PipelineBuilder builder(std::move(config.options));
  for (StageSpec& spec : config.stages) builder.Add(std::move(spec));
  return std::move(builder).Build();
}

std::string_view RoleName(StageRole role) {
  switch (role) {
    case StageRole::kProducer:
      return "source";
    case StageRole::kProducerConsumer:
      return "processor";
    case StageRole::kConsumer:
      return "sink";
  }
  return "?";
}

std::string_view DispatchName(DispatchMode mode) {
  switch (mode) {
    case DispatchMode::kDemand:
      return "demand";
    case DispatchMode::kBroadcast:
      return "broadcast";
    case DispatchMode::kPartition:
      return "partition";
  }
  return "?";
}

}  // namespace sluice
