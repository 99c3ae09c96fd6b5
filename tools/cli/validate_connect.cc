#include "tools/cli/validate_connect.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include "connectors/file/dead_letter_file.h"
#include "connectors/kafka/kafka_client_config.h"
#include "pipeline/config/config_errors.h"
#include "pipeline/config/option_reader.h"

namespace sluice::cli {
namespace {

using connectors::kafka::KafkaClientOptions;

// What librdkafka's error callback said first: its connection error explains
// a timeout ("Connect to ipv4#127.0.0.1:1 failed: Connection refused"), where
// the later ones only sum up ("1/1 brokers are down").
struct ErrorSink {
  std::mutex mu;
  std::string first;
};

struct ClientDeleter {
  void operator()(rd_kafka_t* client) const { rd_kafka_destroy(client); }
};
struct MetadataDeleter {
  void operator()(const struct rd_kafka_metadata* metadata) const {
    rd_kafka_metadata_destroy(metadata);
  }
};

struct TopicInfo {
  int partitions = 0;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// What one metadata request told, or why there was none.
struct ClusterView {
  std::string error;  // empty when the brokers answered
  int brokers = 0;
  std::vector<std::pair<std::string, TopicInfo>> topics;

  const TopicInfo* Find(const std::string& name) const {
    for (const auto& [topic, info] : topics) {
      if (topic == name) return &info;
    }
    return nullptr;
  }
};

std::string FormatTimeout(absl::Duration timeout) { return absl::FormatDuration(timeout); }

// Asks `client`'s brokers for the metadata of every topic (by name it could
// auto-create one), waiting at most `timeout`.
ClusterView Describe(const KafkaClientOptions& client, rd_kafka_type_t type,
                     absl::Duration timeout) {
  ClusterView view;
  absl::StatusOr<rd_kafka_conf_t*> made = connectors::kafka::MakeRdKafkaConf(client);
  if (!made.ok()) {
    view.error = std::string(made.status().message());
    return view;
  }
  rd_kafka_conf_t* conf = *made;
  auto errors = std::make_unique<ErrorSink>();
  rd_kafka_conf_set_opaque(conf, errors.get());
  rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int, const char* reason, void* opaque) {
    auto* sink = static_cast<ErrorSink*>(opaque);
    std::lock_guard<std::mutex> lock(sink->mu);
    if (sink->first.empty()) sink->first = reason;
  });
  // The failure is reported once, with its reason, not as librdkafka's log
  // lines on every reconnect.
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  char text[512];
  std::unique_ptr<rd_kafka_t, ClientDeleter> handle(rd_kafka_new(type, conf, text, sizeof(text)));
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    view.error = absl::StrCat("cannot make a client: ", text);
    return view;
  }
  const struct rd_kafka_metadata* raw = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(handle.get(), /*all_topics=*/1, nullptr, &raw,
                        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout))));
  std::unique_ptr<const struct rd_kafka_metadata, MetadataDeleter> metadata(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_poll(handle.get(), 0);  // serves the error callbacks
    std::lock_guard<std::mutex> lock(errors->mu);
    view.error =
        absl::StrCat("did not answer within ", FormatTimeout(timeout), ": ", rd_kafka_err2str(err));
    if (!errors->first.empty()) absl::StrAppend(&view.error, " (", errors->first, ")");
    return view;
  }
  view.brokers = metadata->broker_cnt;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    const rd_kafka_metadata_topic& topic = metadata->topics[i];
    view.topics.emplace_back(topic.topic, TopicInfo{topic.partition_cnt, topic.err});
  }
  return view;
}

// A mark for `key` of `node` if present, else the node's own.
SourceMark MarkOf(const ConfigNode& node, std::string_view key) {
  if (const ConfigNode* value = node.Find(key)) return value->mark();
  return node.mark();
}

// Whether a file at `path` can be appended to or created (with missing
// parent directories, as the file backend does on its first dead letter).
// Looks only: creates nothing.
std::optional<std::string> CannotWrite(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path file(path);
  if (fs::exists(file, ec)) {
    if (fs::is_directory(file, ec)) return absl::StrCat("\"", path, "\" is a directory");
    if (::access(path.c_str(), W_OK) != 0) {
      return absl::StrCat("cannot write \"", path, "\": ", std::strerror(errno));
    }
    return std::nullopt;
  }
  fs::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  while (!fs::exists(dir, ec)) {
    const fs::path parent = dir.parent_path();
    dir = parent.empty() || parent == dir ? fs::path(".") : parent;
  }
  if (!fs::is_directory(dir, ec)) {
    return absl::StrCat("cannot create \"", path, "\": \"", dir.string(), "\" is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return absl::StrCat("cannot create \"", path, "\": \"", dir.string(),
                        "\": ", std::strerror(errno));
  }
  return std::nullopt;
}

void CheckKafkaStage(const ConfigNode& stage, const StageGraphEntry& entry, absl::Duration timeout,
                     ConfigErrors& errors, std::vector<std::string>& notes) {
  const std::string what = absl::StrCat("stage \"", entry.name, "\"");
  // The static checks passed: these reads succeed. Their own errors (none)
  // go to a scratch list; unknown keys are not our business here.
  ConfigErrors scratch;
  OptionReader options(&stage, what, scratch);
  const std::optional<KafkaClientOptions> client =
      connectors::kafka::ReadKafkaClientOptions(options);
  if (!client.has_value()) return;
  const bool source = entry.role == StageRole::kProducer;
  std::vector<std::string> topics;
  std::string regex;
  if (source) {
    topics = options.StringList("topics").value_or(std::vector<std::string>{});
    regex = options.String("topic_regex").value_or("");
  } else if (std::optional<std::string> topic = options.String("topic"); topic.has_value()) {
    topics.push_back(*topic);
  }
  if (client->is_embedded()) {
    notes.push_back(absl::StrCat(what,
                                 ": brokers: embedded, the broker `sluice run` starts in its own "
                                 "process (topics are created on demand): nothing to connect to"));
    return;
  }
  const ClusterView view =
      Describe(*client, source ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, timeout);
  if (!view.error.empty()) {
    errors.Add(MarkOf(stage, "brokers"),
               absl::StrCat(what, ": brokers \"", client->brokers, "\" ", view.error));
    return;
  }
  std::vector<std::string> found;
  for (const std::string& topic : topics) {
    const TopicInfo* info = view.Find(topic);
    if (info == nullptr || info->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      errors.Add(MarkOf(stage, source ? "topics" : "topic"),
                 absl::StrCat(what, ": topic \"", topic, "\" does not exist on \"", client->brokers,
                              "\""));
    } else if (info->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      errors.Add(MarkOf(stage, source ? "topics" : "topic"),
                 absl::StrCat(what, ": topic \"", topic, "\": ", rd_kafka_err2str(info->err)));
    } else {
      found.push_back(absl::StrCat("\"", topic, "\" (", info->partitions,
                                   info->partitions == 1 ? " partition)" : " partitions)"));
    }
  }
  std::string note = absl::StrCat(what, ": brokers \"", client->brokers, "\" answered (",
                                  view.brokers, view.brokers == 1 ? " broker)" : " brokers)");
  if (!found.empty()) absl::StrAppend(&note, "; topic ", absl::StrJoin(found, ", "), " exists");
  if (!regex.empty()) {
    absl::StrAppend(&note, "; topic_regex \"", regex,
                    "\" is matched when the group subscribes (not checked)");
  }
  notes.push_back(std::move(note));
}

}  // namespace

absl::Status CheckConnections(const LoadedConfig& loaded, absl::Duration timeout,
                              std::vector<std::string>& notes) {
  ConfigErrors errors;
  const ConfigNode* stages = loaded.root.Find("stages");
  if (stages != nullptr && stages->is_sequence()) {
    for (const ConfigNode& stage : stages->items()) {
      const ConfigNode* name = stage.Find("name");
      const ConfigNode* type = stage.Find("type");
      if (name == nullptr || type == nullptr || !type->is_scalar() || type->scalar() != "kafka") {
        continue;
      }
      for (const StageGraphEntry& entry : loaded.config.graph) {
        if (entry.name == name->scalar()) CheckKafkaStage(stage, entry, timeout, errors, notes);
      }
    }
  }

  // Every dead-letter target, once: the pipeline's and the stages' own.
  std::set<const DeadLetterQueue*> seen;
  auto check_dead_letters = [&](const DeadLetterQueue* queue, const SourceMark& mark,
                                const std::string& whose) {
    if (queue == nullptr || !seen.insert(queue).second) return;
    const auto* file = dynamic_cast<const connectors::DeadLetterFileQueue*>(queue);
    if (file == nullptr) {
      notes.push_back(
          absl::StrCat(whose, "dead letters: ", queue->description(), " (not checked)"));
      return;
    }
    if (std::optional<std::string> problem = CannotWrite(file->path()); problem.has_value()) {
      errors.Add(mark, absl::StrCat(whose, "dead letters: ", *problem));
    } else {
      notes.push_back(absl::StrCat(whose, "dead letters: \"", file->path(), "\" is writable"));
    }
  };
  const ConfigNode* pipeline_dead_letter = loaded.root.Find("dead_letter");
  check_dead_letters(
      loaded.config.options.dead_letter.get(),
      pipeline_dead_letter != nullptr ? MarkOf(*pipeline_dead_letter, "path") : loaded.root.mark(),
      "");
  if (stages != nullptr && stages->is_sequence()) {
    for (const StageSpec& spec : loaded.config.stages) {
      for (const ConfigNode& stage : stages->items()) {
        const ConfigNode* name = stage.Find("name");
        const ConfigNode* dead_letter = stage.Find("dead_letter");
        if (name == nullptr || name->scalar() != spec.name || dead_letter == nullptr) continue;
        check_dead_letters(spec.options.dead_letter.get(), MarkOf(*dead_letter, "path"),
                           absl::StrCat("stage \"", spec.name, "\": "));
      }
    }
  }
  return errors.ToStatus();
}

}  // namespace sluice::cli
