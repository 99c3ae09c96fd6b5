// `sluice dlq inspect DLQ`: what a dead-letter queue (a file or kafka://topic)
// holds, counted by stage and by error, the range of failed_at, the damage a
// file read skipped (reported, never fatal), and a few sample records with
// their headers. `--json` prints the same as one JSON object for scripts
// (fields in docs/dead-letters.md).
#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

#include "connectors/file/dead_letter_file.h"
#include "pipeline/config/option_reader.h"
#include "pipeline/status_macros.h"
#include "pipeline/string_view_compat.h"
#include "tools/cli/commands.h"
#include "tools/cli/dead_letter_source.h"

namespace sluice::cli {
namespace {

using connectors::ParsedDeadLetter;

constexpr size_t kErrorRows = 20;
constexpr size_t kSampleValueBytes = 200;
constexpr std::string_view kUnreadable = "(unreadable)";

struct Summary {
  uint64_t records = 0;
  uint64_t unreadable = 0;
  std::optional<absl::Time> first_failed_at;
  std::optional<absl::Time> last_failed_at;
  std::map<std::string, uint64_t> by_stage;
  std::map<std::pair<std::string, std::string>, uint64_t> by_error;  // (stage, error)
  std::vector<DeadLetterEntry> samples;
  DeadLetterDamage damage;
};

std::string FormatFailedAt(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_full, time, absl::UTCTimeZone());
}

void AppendJsonBytesField(std::string_view name, std::string_view bytes, std::string& out) {
  std::string text;
  if (AppendJsonUtf8(bytes, text)) {
    absl::StrAppend(&out, "\"", Av(name), "\": ", text);
  } else {
    absl::StrAppend(&out, "\"", Av(name), "_base64\": \"", absl::Base64Escape(Av(bytes)), "\"");
  }
}

void AppendJsonText(std::string_view text, std::string& out) {
  if (!AppendJsonUtf8(text, out)) AppendJsonUtf8(PrintableBytes(text, text.size()), out);
}

std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>> ErrorsByCount(
    const Summary& summary) {
  std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>> rows(
      summary.by_error.begin(), summary.by_error.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return rows;
}

std::string Json(const DeadLetterLocation& where, const Summary& summary) {
  std::string out = "{\"dlq\": ";
  AppendJsonText(where.is_kafka() ? where.ToString() : where.path, out);
  absl::StrAppend(&out, ", \"backend\": \"", where.is_kafka() ? "kafka" : "file", "\"");
  absl::StrAppend(&out, ", \"records\": ", summary.records);
  absl::StrAppend(&out, ", \"unreadable\": ", summary.unreadable);
  out.append(", \"failed_at\": ");
  if (summary.first_failed_at.has_value()) {
    absl::StrAppend(&out, "{\"first\": \"", FormatFailedAt(*summary.first_failed_at),
                    "\", \"last\": \"", FormatFailedAt(*summary.last_failed_at), "\"}");
  } else {
    out.append("null");
  }
  out.append(", \"by_stage\": [");
  bool first = true;
  for (const auto& [stage, count] : summary.by_stage) {
    if (!first) out.append(", ");
    first = false;
    out.append("{\"stage\": ");
    AppendJsonText(stage, out);
    absl::StrAppend(&out, ", \"records\": ", count, "}");
  }
  out.append("], \"by_error\": [");
  first = true;
  for (const auto& [key, count] : ErrorsByCount(summary)) {
    if (!first) out.append(", ");
    first = false;
    out.append("{\"stage\": ");
    AppendJsonText(key.first, out);
    out.append(", \"error\": ");
    AppendJsonText(key.second, out);
    absl::StrAppend(&out, ", \"records\": ", count, "}");
  }
  absl::StrAppend(&out, "], \"damage\": {\"corrupt_regions\": ", summary.damage.corrupt_regions,
                  ", \"skipped_bytes\": ", summary.damage.skipped_bytes,
                  ", \"torn_tail_bytes\": ", summary.damage.torn_tail_bytes, "}");
  out.append(", \"samples\": [");
  first = true;
  for (const DeadLetterEntry& sample : summary.samples) {
    if (!first) out.append(", ");
    first = false;
    absl::StrAppend(&out, "{\"partition\": ", sample.partition, ", \"offset\": ", sample.offset);
    if (!where.is_kafka()) absl::StrAppend(&out, ", \"file_position\": ", sample.file_position);
    absl::StrAppend(&out, ", \"timestamp_us\": ", sample.record.timestamp_us, ", ");
    AppendJsonBytesField("key", sample.record.key, out);
    out.append(", ");
    AppendJsonBytesField("value", sample.record.value, out);
    out.append(", \"headers\": [");
    bool first_header = true;
    for (const auto& [name, value] : sample.record.headers) {
      if (!first_header) out.append(", ");
      first_header = false;
      out.append("{\"name\": ");
      AppendJsonText(name, out);
      out.append(", ");
      AppendJsonBytesField("value", value, out);
      out.append("}");
    }
    out.append("]}");
  }
  out.append("]}\n");
  return out;
}

std::string Text(const DeadLetterLocation& where, const Summary& summary, int samples_asked) {
  std::string out = absl::StrCat("dead-letter queue: ", where.ToString(), "\n");
  absl::StrAppend(&out, "records: ", summary.records);
  if (summary.unreadable > 0) {
    absl::StrAppend(&out, " (", summary.unreadable, " with unreadable sluice.dlq.* headers)");
  }
  out.append("\n");
  if (summary.first_failed_at.has_value()) {
    absl::StrAppend(&out, "failed_at: ", FormatFailedAt(*summary.first_failed_at), " .. ",
                    FormatFailedAt(*summary.last_failed_at), "\n");
  }
  if (!where.is_kafka()) {
    const DeadLetterDamage& damage = summary.damage;
    if (damage.corrupt_regions == 0 && damage.torn_tail_bytes == 0) {
      out.append("damage: none\n");
    } else {
      absl::StrAppend(&out, "damage: ", damage.corrupt_regions, " corrupt region(s), ",
                      damage.skipped_bytes, " bytes skipped; torn tail ", damage.torn_tail_bytes,
                      " bytes (skipped; the records around them are intact)\n");
    }
  }
  if (summary.records == 0) return out;

  out.append("\nby stage:\n");
  size_t stage_width = 5;
  for (const auto& [stage, count] : summary.by_stage)
    stage_width = std::max(stage_width, stage.size());
  for (const auto& [key, count] : summary.by_error)
    stage_width = std::max(stage_width, key.first.size());
  absl::StrAppend(&out, absl::StrFormat("  %8s  %s\n", "RECORDS", "STAGE"));
  for (const auto& [stage, count] : summary.by_stage) {
    absl::StrAppend(&out, absl::StrFormat("  %8d  %s\n", count, stage));
  }
  out.append("\nby error:\n");
  absl::StrAppend(&out, absl::StrFormat("  %8s  %-*s  %s\n", "RECORDS",
                                        static_cast<int>(stage_width), "STAGE", "ERROR"));
  const auto rows = ErrorsByCount(summary);
  for (size_t i = 0; i < rows.size() && i < kErrorRows; ++i) {
    absl::StrAppend(
        &out, absl::StrFormat("  %8d  %-*s  %s\n", rows[i].second, static_cast<int>(stage_width),
                              rows[i].first.first, PrintableBytes(rows[i].first.second, 300)));
  }
  if (rows.size() > kErrorRows) {
    absl::StrAppend(&out, "  ... and ", rows.size() - kErrorRows,
                    " more distinct errors (--json lists them all)\n");
  }
  if (samples_asked > 0) {
    absl::StrAppend(&out, "\nsamples (", summary.samples.size(), " of ", summary.records, "):\n");
    for (const DeadLetterEntry& sample : summary.samples) {
      if (where.is_kafka()) {
        absl::StrAppend(&out, "  partition ", sample.partition, " offset ", sample.offset, "\n");
      } else {
        absl::StrAppend(&out, "  record ", sample.offset, " (byte ", sample.file_position, ")\n");
      }
      absl::StrAppend(&out, "    key:   ", PrintableBytes(sample.record.key, kSampleValueBytes),
                      "\n");
      absl::StrAppend(&out, "    value: ", PrintableBytes(sample.record.value, kSampleValueBytes),
                      "\n");
      out.append("    headers:\n");
      for (const auto& [name, value] : sample.record.headers) {
        absl::StrAppend(&out, "      ", PrintableBytes(name, 100), ": ",
                        PrintableBytes(value, kSampleValueBytes), "\n");
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<DeadLetterSourceOptions> DlqSourceOptions(const DeadLetterLocation& where,
                                                         const DlqKafkaArgs& args) {
  DeadLetterSourceOptions options;
  std::optional<absl::Duration> timeout = ParseConfigDuration(args.timeout);
  if (!timeout.has_value() || *timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout \"", args.timeout, "\": expected a duration such as 10s"));
  }
  options.timeout = *timeout;
  if (where.is_kafka()) {
    SLUICE_ASSIGN_OR_RETURN(options.client,
                            KafkaClientFromFlags(args.brokers, args.properties, args.config_path));
  }
  return options;
}

int DlqInspect(const DlqInspectArgs& args) {
  absl::StatusOr<DeadLetterLocation> where = ParseDeadLetterLocation(args.dlq);
  if (!where.ok()) {
    std::cerr << "sluice dlq inspect: " << where.status().message() << "\n";
    return kExitConfig;
  }
  absl::StatusOr<DeadLetterSourceOptions> options = DlqSourceOptions(*where, args.kafka);
  if (!options.ok()) {
    std::cerr << "sluice dlq inspect: " << options.status().message() << "\n";
    return kExitConfig;
  }
  absl::StatusOr<std::unique_ptr<DeadLetterSource>> source = OpenDeadLetterSource(*where, *options);
  if (!source.ok()) {
    std::cerr << "sluice dlq inspect: " << where->ToString() << ": " << source.status().message()
              << "\n";
    return kExitRuntime;
  }
  Summary summary;
  DeadLetterEntry entry;
  for (;;) {
    absl::StatusOr<bool> more = (*source)->Next(entry);
    if (!more.ok()) {
      std::cerr << "sluice dlq inspect: " << where->ToString() << ": " << more.status().message()
                << "\n";
      return kExitRuntime;
    }
    if (!*more) break;
    ++summary.records;
    absl::StatusOr<ParsedDeadLetter> parsed = connectors::ParseDeadLetterRecord(entry.record);
    if (!parsed.ok()) {
      ++summary.unreadable;
      ++summary.by_stage[std::string(kUnreadable)];
      ++summary.by_error[{std::string(kUnreadable), std::string(parsed.status().message())}];
    } else {
      const DeadLetter& letter = parsed->letter;
      ++summary.by_stage[letter.stage];
      ++summary.by_error[{letter.stage, letter.error}];
      if (letter.failed_at != absl::Time()) {
        if (!summary.first_failed_at || letter.failed_at < *summary.first_failed_at)
          summary.first_failed_at = letter.failed_at;
        if (!summary.last_failed_at || letter.failed_at > *summary.last_failed_at)
          summary.last_failed_at = letter.failed_at;
      }
    }
    if (summary.samples.size() < static_cast<size_t>(std::max(args.samples, 0))) {
      summary.samples.push_back(entry);
    }
  }
  summary.damage = (*source)->damage();
  std::cout << (args.json ? Json(*where, summary) : Text(*where, summary, args.samples));
  if (!args.json && (summary.damage.corrupt_regions > 0 || summary.damage.torn_tail_bytes > 0)) {
    std::cerr << "sluice dlq inspect: warning: " << where->path
              << " is damaged: " << summary.damage.corrupt_regions << " corrupt region(s) ("
              << summary.damage.skipped_bytes << " bytes) and a torn tail of "
              << summary.damage.torn_tail_bytes << " bytes were skipped\n";
  }
  return kExitOk;
}

}  // namespace sluice::cli
