// `sluice dlq replay DLQ`: re-publishes dead letters to the topic they came
// from (sluice.dlq.source.topic) or to `--to`, as the original event: key,
// value, headers and timestamp restored, the sluice.dlq.* headers stripped,
// `sluice.dlq.replay_count` set to one more than the record's.
//
// Resumable. The replay's position in the queue (a Kafka DLQ: the offsets of
// consumer group `sluice-replay-<topic>`; a file DLQ: `<path>.replay-position`
// beside it) is committed only past records whose publish the broker has
// confirmed (or that needed none: filtered out, skipped, parked to a file),
// as a contiguous prefix per DLQ partition, after every poll of the
// producer. An interrupted replay, even by SIGKILL, continues where the last
// commit left it: what was confirmed is not sent again, except what was
// confirmed in the moment between the broker's confirmation and the commit;
// nothing is skipped. `--from-start` ignores the position.
//
// Loop guard: a record whose replay_count has reached `--max-replays` is not
// replayed again but parked: to `--park` (default `<topic>.parked`, a topic,
// for a Kafka DLQ; `<path>.parked`, a dead-letter file, for a file DLQ),
// unchanged.
//
// See docs/dead-letters.md for the flags and what is printed.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include "connectors/file/dead_letter_file.h"
#include "connectors/internal/posix_file.h"
#include "pipeline/config/option_reader.h"
#include "pipeline/status_macros.h"
#include "pipeline/string_view_compat.h"
#include "pipeline/token_bucket.h"
#include "tools/cli/commands.h"
#include "tools/cli/dead_letter_source.h"

#include "re2/re2.h"

namespace sluice::cli {
namespace {

using connectors::DeadLetterRecord;
using connectors::kDlqHeaderPrefix;
using connectors::kDlqReplayCountHeader;
using connectors::ParsedDeadLetter;

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

// ---------------------------------------------------------------------------
// Flags

struct Filters {
  std::string stage;
  std::unique_ptr<RE2> error;
  std::optional<absl::Time> since;
  std::optional<absl::Time> until;
  std::optional<int64_t> first_offset;
  std::optional<int64_t> last_offset;
};

// RFC 3339 ("2024-05-01T10:00:00Z"), a date ("2024-05-01", midnight UTC), or
// a duration meaning that long ago ("2h", "30m").
absl::StatusOr<absl::Time> ParseWhen(const std::string& flag, const std::string& text,
                                     absl::Time now) {
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &time, &error)) return time;
  if (absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &time, &error)) return time;
  if (std::optional<absl::Duration> ago = ParseConfigDuration(text)) return now - *ago;
  return absl::InvalidArgumentError(
      absl::StrCat(flag, " \"", text,
                   "\": expected an RFC 3339 time (2024-05-01T10:00:00Z), a date (2024-05-01) or a "
                   "duration ago (2h)"));
}

absl::StatusOr<Filters> ParseFilters(const DlqReplayArgs& args) {
  Filters filters;
  filters.stage = args.stage;
  if (!args.error_regex.empty()) {
    filters.error = std::make_unique<RE2>(args.error_regex, RE2::Quiet);
    if (!filters.error->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--error \"", args.error_regex, "\": ", filters.error->error()));
    }
  }
  const absl::Time now = absl::Now();
  if (!args.since.empty()) {
    SLUICE_ASSIGN_OR_RETURN(filters.since, ParseWhen("--since", args.since, now));
  }
  if (!args.until.empty()) {
    SLUICE_ASSIGN_OR_RETURN(filters.until, ParseWhen("--until", args.until, now));
  }
  if (!args.offsets.empty()) {
    const std::vector<std::string> parts = absl::StrSplit(args.offsets, absl::MaxSplits('-', 1));
    int64_t first = 0;
    int64_t last = 0;
    const bool ok = absl::SimpleAtoi(parts[0], &first) && first >= 0 &&
                    (parts.size() == 1 || parts[1].empty() ||
                     (absl::SimpleAtoi(parts[1], &last) && last >= first));
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--offsets \"", args.offsets, "\": expected A-B (inclusive), A- or A, with 0 <= A <= B"));
    }
    filters.first_offset = first;
    if (parts.size() == 1) {
      filters.last_offset = first;
    } else if (!parts[1].empty()) {
      filters.last_offset = last;
    }
  }
  return filters;
}

// ---------------------------------------------------------------------------
// The file DLQ's position: `<path>.replay-position`, two lines
// ("position <byte>", "index <record>"), replaced atomically.

std::string PositionPath(const std::string& dlq_path) { return dlq_path + ".replay-position"; }

absl::StatusOr<DeadLetterStart> ReadFilePosition(const std::string& dlq_path) {
  DeadLetterStart start;
  std::ifstream in(PositionPath(dlq_path));
  if (!in) return start;  // never replayed
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() != 2 || words[0].starts_with("#")) continue;
    if (words[0] == "position" && absl::SimpleAtoi(words[1], &start.file_position)) continue;
    if (words[0] == "index" && absl::SimpleAtoi(words[1], &start.file_index)) continue;
    return absl::DataLossError(
        absl::StrCat(PositionPath(dlq_path), ": unexpected line \"", line, "\""));
  }
  return start;
}

absl::Status WriteFilePosition(const std::string& dlq_path, uint64_t position, int64_t index) {
  const std::string path = PositionPath(dlq_path);
  const std::string temporary = path + ".tmp";
  const std::string text = absl::StrCat("# sluice dlq replay position of ", dlq_path, "\nposition ",
                                        position, "\nindex ", index, "\n");
  {
    std::remove(temporary.c_str());
    SLUICE_ASSIGN_OR_RETURN(connectors::internal::FileDescriptor fd,
                            connectors::internal::OpenForAppend(temporary));
    SLUICE_RETURN_IF_ERROR(connectors::internal::WriteAll(fd.get(), text, temporary));
    SLUICE_RETURN_IF_ERROR(connectors::internal::SyncData(fd.get(), temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return connectors::internal::ErrnoError(errno, "rename", temporary);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The replay

enum class Action { kFiltered, kSkippedNoTopic, kSkippedUnreadable, kReplay, kPark };

// One record read, until its position may be committed.
struct Slot {
  int32_t partition = 0;
  int64_t offset = 0;
  uint64_t next_file_position = 0;
  Action action = Action::kFiltered;
  bool done = false;
};

class Replayer {
 public:
  Replayer(const DlqReplayArgs& args, DeadLetterLocation where, Filters filters)
      : args_(args), where_(std::move(where)), filters_(std::move(filters)) {}
  ~Replayer() {
    if (producer_ != nullptr) {
      for (auto& [name, topic] : topics_) rd_kafka_topic_destroy(topic);
      rd_kafka_destroy(producer_);
    }
  }

  int Run() {
    absl::StatusOr<DeadLetterSourceOptions> options = DlqSourceOptions(where_, args_.kafka);
    if (!options.ok()) return Usage(options.status());
    park_ = args_.park;
    if (park_.empty())
      park_ = where_.is_kafka() ? where_.topic + ".parked" : where_.path + ".parked";
    if (where_.is_kafka()) {
      group_ = "sluice-replay-" + where_.topic;
      options->group = group_;
      options->resume = !args_.from_start;
    } else if (!args_.from_start) {
      absl::StatusOr<DeadLetterStart> start = ReadFilePosition(where_.path);
      if (!start.ok()) return Fail(start.status());
      options->start = *start;
    }
    // The producer: from the DLQ's own client for a Kafka DLQ, else --brokers/--config.
    if (!args_.dry_run) {
      absl::StatusOr<connectors::kafka::KafkaClientOptions> client =
          where_.is_kafka()
              ? absl::StatusOr<connectors::kafka::KafkaClientOptions>(*options->client)
              : KafkaClientFromFlags(args_.kafka.brokers, args_.kafka.properties,
                                     args_.kafka.config_path);
      if (!client.ok()) return Usage(client.status());
      if (absl::Status made = MakeProducer(*client); !made.ok()) return Usage(made);
    }
    absl::StatusOr<std::unique_ptr<DeadLetterSource>> source =
        OpenDeadLetterSource(where_, *options);
    if (!source.ok()) return Fail(source.status());
    source_ = std::move(*source);
    if (args_.rate > 0) {
      bucket_.emplace(args_.rate, std::max(1.0, args_.rate / 10), absl::Now());
    }
    progress_ = !args_.dry_run && ::isatty(STDERR_FILENO) == 1;

    absl::Status status = ReadAndSend();
    // What was handed over gets its confirmation (bounded by
    // message.timeout.ms), then the position goes as far as it may.
    if (producer_ != nullptr) {
      while (in_flight_ > 0) {
        rd_kafka_poll(producer_, 100);
        if (absl::Status committed = CommitProgress(); status.ok()) status = committed;
      }
    }
    if (absl::Status committed = CommitProgress(); status.ok()) status = committed;
    if (status.ok() && !delivery_error_.empty()) status = absl::UnavailableError(delivery_error_);
    if (progress_) std::cerr << "\r\033[K";
    PrintSummary();
    if (!status.ok()) return Fail(status);
    if (g_interrupted.load()) {
      std::cerr << "sluice dlq replay: interrupted; run it again to continue\n";
      return kExitRuntime;
    }
    return kExitOk;
  }

  void OnDelivery(const rd_kafka_message_t& message) {
    auto* slot = static_cast<Slot*>(message._private);
    --in_flight_;
    if (message.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (delivery_error_.empty()) {
        delivery_error_ = absl::StrCat("publish to topic \"", rd_kafka_topic_name(message.rkt),
                                       "\" failed: ", rd_kafka_err2str(message.err));
      }
      return;  // never done: the position stops before it
    }
    slot->done = true;
    ++(slot->action == Action::kPark ? parked_ : replayed_);
  }

 private:
  int Usage(const absl::Status& status) {
    std::cerr << "sluice dlq replay: " << status.message() << "\n";
    return kExitConfig;
  }
  int Fail(const absl::Status& status) {
    std::cerr << "sluice dlq replay: " << where_.ToString() << ": " << status.message() << "\n";
    return kExitRuntime;
  }

  absl::Status MakeProducer(const connectors::kafka::KafkaClientOptions& client) {
    SLUICE_ASSIGN_OR_RETURN(rd_kafka_conf_t * conf, connectors::kafka::MakeRdKafkaConf(client));
    char error[512];
    rd_kafka_conf_set(conf, "enable.idempotence", "true", error, sizeof(error));
    rd_kafka_conf_set_dr_msg_cb(conf,
                                [](rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
                                  static_cast<Replayer*>(opaque)->OnDelivery(*message);
                                });
    rd_kafka_conf_set_opaque(conf, this);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
    if (producer_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka producer: ", error));
    }
    return absl::OkStatus();
  }

  rd_kafka_topic_t* Topic(const std::string& name) {
    auto found = topics_.find(name);
    if (found != topics_.end()) return found->second;
    rd_kafka_topic_t* topic = rd_kafka_topic_new(producer_, name.c_str(), nullptr);
    topics_.emplace(name, topic);
    return topic;
  }

  absl::Status ReadAndSend() {
    DeadLetterEntry entry;
    for (;;) {
      if (g_interrupted.load()) return absl::OkStatus();
      if (!delivery_error_.empty()) return absl::OkStatus();
      if (args_.max > 0 && sent_ >= args_.max) return absl::OkStatus();
      SLUICE_ASSIGN_OR_RETURN(bool more, source_->Next(entry));
      if (!more) return absl::OkStatus();
      ++read_;
      slots_[entry.partition].push_back({.partition = entry.partition,
                                         .offset = entry.offset,
                                         .next_file_position = entry.next_file_position});
      Slot& slot = slots_[entry.partition].back();
      std::optional<ParsedDeadLetter> parsed;
      slot.action = Classify(entry, parsed);
      switch (slot.action) {
        case Action::kFiltered:
          ++filtered_;
          slot.done = true;
          break;
        case Action::kSkippedNoTopic:
        case Action::kSkippedUnreadable:
          ++selected_;
          ++(slot.action == Action::kSkippedNoTopic ? skipped_no_topic_ : skipped_unreadable_);
          slot.done = true;
          Report(entry, slot.action, parsed, "");
          break;
        case Action::kReplay:
        case Action::kPark:
          ++selected_;
          ++sent_;
          SLUICE_RETURN_IF_ERROR(Send(entry, *parsed, slot));
          break;
      }
      if (producer_ != nullptr) rd_kafka_poll(producer_, 0);
      SLUICE_RETURN_IF_ERROR(CommitProgress());
      ShowProgress();
    }
  }

  Action Classify(const DeadLetterEntry& entry, std::optional<ParsedDeadLetter>& parsed) {
    if (filters_.first_offset && entry.offset < *filters_.first_offset) return Action::kFiltered;
    if (filters_.last_offset && entry.offset > *filters_.last_offset) return Action::kFiltered;
    absl::StatusOr<ParsedDeadLetter> read = connectors::ParseDeadLetterRecord(entry.record);
    if (!read.ok()) return Action::kSkippedUnreadable;
    parsed = std::move(*read);
    const DeadLetter& letter = parsed->letter;
    if (!filters_.stage.empty() && letter.stage != filters_.stage) return Action::kFiltered;
    if (filters_.error && !RE2::PartialMatch(letter.error, *filters_.error))
      return Action::kFiltered;
    if (filters_.since && letter.failed_at < *filters_.since) return Action::kFiltered;
    if (filters_.until && letter.failed_at >= *filters_.until) return Action::kFiltered;
    if (parsed->replay_count >= static_cast<uint32_t>(args_.max_replays)) return Action::kPark;
    if (args_.to.empty() && letter.source_topic.empty()) return Action::kSkippedNoTopic;
    return Action::kReplay;
  }

  std::string Where(const DeadLetterEntry& entry) const {
    return where_.is_kafka() ? absl::StrCat("partition ", entry.partition, " offset ", entry.offset)
                             : absl::StrCat("record ", entry.offset);
  }

  // One line per record in a dry run (stdout), and per skipped record (stderr).
  void Report(const DeadLetterEntry& entry, Action action,
              const std::optional<ParsedDeadLetter>& parsed, const std::string& target) {
    std::string line;
    switch (action) {
      case Action::kReplay:
        line = absl::StrCat("replay ", Where(entry), " -> ", target, " (key \"",
                            PrintableBytes(entry.record.key, 60), "\", ", entry.record.value.size(),
                            " bytes, stage ", parsed->letter.stage, ", replay_count ",
                            parsed->replay_count + 1, ")");
        break;
      case Action::kPark:
        line =
            absl::StrCat("park ", Where(entry), " -> ", park_, " (replay_count ",
                         parsed->replay_count, " reached --max-replays ", args_.max_replays, ")");
        break;
      case Action::kSkippedNoTopic:
        line = absl::StrCat("skip ", Where(entry),
                            ": no sluice.dlq.source.topic header (give --to TOPIC)");
        break;
      case Action::kSkippedUnreadable:
        line = absl::StrCat("skip ", Where(entry), ": unreadable sluice.dlq.* headers");
        break;
      case Action::kFiltered:
        return;
    }
    if (args_.dry_run) {
      std::cout << line << "\n";
    } else if (action == Action::kSkippedNoTopic || action == Action::kSkippedUnreadable) {
      std::cerr << "sluice dlq replay: " << line << "\n";
    }
  }

  absl::Status Send(const DeadLetterEntry& entry, const ParsedDeadLetter& parsed, Slot& slot) {
    const bool park = slot.action == Action::kPark;
    const std::string target =
        park ? park_ : (args_.to.empty() ? parsed.letter.source_topic : args_.to);
    Report(entry, slot.action, parsed, target);
    if (args_.dry_run) {
      ++(park ? parked_ : replayed_);
      slot.done = true;
      return absl::OkStatus();
    }
    if (park && !where_.is_kafka()) {
      // A dead-letter file beside the DLQ, written and synced before the
      // position passes the record.
      std::string frame;
      SLUICE_RETURN_IF_ERROR(connectors::AppendDeadLetterFrame(entry.record, frame));
      SLUICE_ASSIGN_OR_RETURN(connectors::internal::FileDescriptor fd,
                              connectors::internal::OpenForAppend(park_));
      SLUICE_RETURN_IF_ERROR(connectors::internal::WriteAll(fd.get(), frame, park_));
      SLUICE_RETURN_IF_ERROR(connectors::internal::SyncData(fd.get(), park_));
      ++parked_;
      slot.done = true;
      return absl::OkStatus();
    }
    // Parked: the record unchanged. Replayed: the original event, its
    // replay_count one more.
    std::vector<std::pair<std::string, std::string>> headers;
    if (park) {
      headers = entry.record.headers;
    } else {
      for (const auto& [name, value] : entry.record.headers) {
        if (!name.starts_with(kDlqHeaderPrefix)) headers.emplace_back(name, value);
      }
      headers.emplace_back(std::string(kDlqReplayCountHeader),
                           absl::StrCat(parsed.replay_count + 1));
    }
    SLUICE_RETURN_IF_ERROR(WaitForRoom());
    rd_kafka_topic_t* topic = Topic(target);
    for (;;) {
      rd_kafka_headers_t* kafka_headers = rd_kafka_headers_new(headers.size());
      for (const auto& [name, value] : headers) {
        rd_kafka_header_add(kafka_headers, name.data(), static_cast<ssize_t>(name.size()),
                            value.data(), static_cast<ssize_t>(value.size()));
      }
      rd_kafka_vu_t parts[7];
      size_t count = 0;
      parts[count].vtype = RD_KAFKA_VTYPE_RKT;
      parts[count++].u.rkt = topic;
      parts[count].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      parts[count++].u.i = RD_KAFKA_MSG_F_COPY;
      parts[count].vtype = RD_KAFKA_VTYPE_VALUE;
      parts[count].u.mem.ptr = const_cast<char*>(entry.record.value.data());
      parts[count++].u.mem.size = entry.record.value.size();
      parts[count].vtype = RD_KAFKA_VTYPE_KEY;
      parts[count].u.mem.ptr =
          entry.record.key.empty() ? nullptr : const_cast<char*>(entry.record.key.data());
      parts[count++].u.mem.size = entry.record.key.size();
      parts[count].vtype = RD_KAFKA_VTYPE_OPAQUE;
      parts[count++].u.ptr = &slot;  // deque elements do not move
      parts[count].vtype = RD_KAFKA_VTYPE_HEADERS;
      parts[count++].u.headers = kafka_headers;
      if (entry.record.timestamp_us > 0) {
        parts[count].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
        parts[count++].u.i64 = entry.record.timestamp_us / 1000;
      }
      rd_kafka_error_t* error = rd_kafka_produceva(producer_, parts, count);
      if (error == nullptr) break;
      const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
      rd_kafka_headers_destroy(kafka_headers);
      if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return absl::UnavailableError(
            absl::StrCat("publish to topic \"", target, "\": ", rd_kafka_err2str(code)));
      }
      rd_kafka_poll(producer_, 100);
    }
    ++in_flight_;
    return absl::OkStatus();
  }

  // Waits (serving delivery reports and committing) until fewer than
  // --in-flight records are unconfirmed and --rate allows one more.
  absl::Status WaitForRoom() {
    while (in_flight_ >= std::max(1, args_.in_flight)) {
      rd_kafka_poll(producer_, 100);
      SLUICE_RETURN_IF_ERROR(CommitProgress());
    }
    if (bucket_.has_value()) {
      while (bucket_->Available(absl::Now()) == 0) {
        const absl::Duration wait = bucket_->TimeUntilNext(absl::Now());
        rd_kafka_poll(producer_,
                      static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait))));
        SLUICE_RETURN_IF_ERROR(CommitProgress());
      }
      bucket_->Take(1);
    }
    return absl::OkStatus();
  }

  // Commits, per DLQ partition, past the records that are done, in order.
  absl::Status CommitProgress() {
    if (args_.dry_run) return absl::OkStatus();
    std::map<int32_t, int64_t> offsets;
    std::optional<std::pair<uint64_t, int64_t>> file_position;
    for (auto& [partition, slots] : slots_) {
      while (!slots.empty() && slots.front().done) {
        if (where_.is_kafka()) {
          offsets[partition] = slots.front().offset + 1;
        } else {
          file_position = {slots.front().next_file_position, slots.front().offset + 1};
        }
        slots.pop_front();
      }
    }
    if (where_.is_kafka()) {
      if (offsets.empty()) return absl::OkStatus();
      SLUICE_RETURN_IF_ERROR(source_->Commit(offsets));
      for (const auto& [partition, offset] : offsets) committed_[partition] = offset;
      return absl::OkStatus();
    }
    if (!file_position.has_value()) return absl::OkStatus();
    SLUICE_RETURN_IF_ERROR(
        WriteFilePosition(where_.path, file_position->first, file_position->second));
    file_committed_ = file_position;
    return absl::OkStatus();
  }

  void ShowProgress() {
    if (!progress_) return;
    const absl::Time now = absl::Now();
    if (now - last_progress_ < absl::Milliseconds(200)) return;
    last_progress_ = now;
    const int64_t expected = source_->expected();
    std::cerr << "\r\033[Kreplaying " << where_.ToString() << ": read " << read_;
    if (expected >= 0) std::cerr << " of " << expected;
    std::cerr << ", replayed " << replayed_ << ", parked " << parked_ << std::flush;
  }

  void PrintSummary() {
    const char* would = args_.dry_run ? "would " : "";
    std::cout << (args_.dry_run ? "summary (dry run, nothing sent or committed): " : "summary: ")
              << "read " << read_ << ", filtered out " << filtered_ << ", selected " << selected_
              << ": " << would << "replay " << replayed_ << ", " << would << "park " << parked_
              << ", skipped " << skipped_no_topic_ + skipped_unreadable_ << " (no source topic "
              << skipped_no_topic_ << ", unreadable " << skipped_unreadable_ << ")\n";
    if (args_.dry_run) return;
    if (where_.is_kafka()) {
      std::cout << "position: group " << group_ << " committed";
      if (committed_.empty()) std::cout << " nothing new";
      for (const auto& [partition, offset] : committed_) {
        std::cout << " " << partition << ":" << offset;
      }
      std::cout << "\n";
    } else if (file_committed_.has_value()) {
      std::cout << "position: " << PositionPath(where_.path) << " at record "
                << file_committed_->second << " (byte " << file_committed_->first << ")\n";
    } else {
      std::cout << "position: " << PositionPath(where_.path) << " unchanged\n";
    }
    if (parked_ > 0) std::cout << "parked to: " << park_ << "\n";
  }

  const DlqReplayArgs& args_;
  const DeadLetterLocation where_;
  const Filters filters_;
  std::string park_;
  std::string group_;
  std::unique_ptr<DeadLetterSource> source_;
  rd_kafka_t* producer_ = nullptr;
  std::map<std::string, rd_kafka_topic_t*> topics_;
  std::optional<TokenBucket> bucket_;
  std::map<int32_t, std::deque<Slot>> slots_;
  int64_t in_flight_ = 0;
  std::string delivery_error_;
  std::map<int32_t, int64_t> committed_;
  std::optional<std::pair<uint64_t, int64_t>> file_committed_;
  bool progress_ = false;
  absl::Time last_progress_ = absl::InfinitePast();

  int64_t read_ = 0, filtered_ = 0, selected_ = 0, sent_ = 0;
  int64_t replayed_ = 0, parked_ = 0, skipped_no_topic_ = 0, skipped_unreadable_ = 0;
};

}  // namespace

int DlqReplay(const DlqReplayArgs& args) {
  absl::StatusOr<DeadLetterLocation> where = ParseDeadLetterLocation(args.dlq);
  if (!where.ok()) {
    std::cerr << "sluice dlq replay: " << where.status().message() << "\n";
    return kExitConfig;
  }
  absl::StatusOr<Filters> filters = ParseFilters(args);
  if (!filters.ok()) {
    std::cerr << "sluice dlq replay: " << filters.status().message() << "\n";
    return kExitConfig;
  }
  if (args.max_replays < 1) {
    std::cerr << "sluice dlq replay: --max-replays must be at least 1\n";
    return kExitConfig;
  }
  // SIGINT/SIGTERM: stop reading, let what was sent be confirmed, commit.
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  Replayer replayer(args, std::move(*where), std::move(*filters));
  return replayer.Run();
}

}  // namespace sluice::cli
