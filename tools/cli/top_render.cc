#include "tools/cli/top_render.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

#include "pipeline/string_view_compat.h"

namespace sluice::cli {
namespace {

// 1234567.4 -> "1,234,567".
std::string Whole(double value) {
  if (std::isnan(value)) return "-";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  const int64_t rounded = std::llround(value);
  std::string digits = absl::StrCat(rounded < 0 ? -rounded : rounded);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return rounded < 0 ? "-" + out : out;
}

// 65 -> "1m 05s"; 3725 -> "1h 02m 05s".
std::string Uptime(double seconds) {
  const int64_t total = std::llround(std::max(seconds, 0.0));
  const int64_t hours = total / 3600, minutes = total % 3600 / 60, secs = total % 60;
  if (hours > 0) return absl::StrFormat("%dh %02dm %02ds", hours, minutes, secs);
  if (minutes > 0) return absl::StrFormat("%dm %02ds", minutes, secs);
  return absl::StrFormat("%ds", secs);
}

// Columns sized to their widest cell; the first `left` columns are
// left-aligned (names), the rest right-aligned (numbers).
class Table {
 public:
  Table(std::vector<std::string> header, size_t left) : left_(left) {
    rows_.push_back(std::move(header));
  }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  void AppendTo(std::string& out) const {
    std::vector<size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows_) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) {
        if (i > 0) line += "  ";
        const std::string padding(widths[i] - row[i].size(), ' ');
        line += i < left_ ? row[i] + padding : padding + row[i];
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      absl::StrAppend(&out, line, "\n");
    }
  }

 private:
  size_t left_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace

std::string RenderTopText(const TopView& view, std::string_view address) {
  std::string out = absl::StrCat("sluice top: http://", Av(address));
  if (!view.version.empty()) absl::StrAppend(&out, ", sluice ", view.version);
  if (view.uptime_seconds) absl::StrAppend(&out, ", up ", Uptime(*view.uptime_seconds));
  absl::StrAppend(&out,
                  absl::StrFormat(", rates over %.1fs\n", absl::ToDoubleSeconds(view.interval)));
  if (view.stages.empty()) {
    absl::StrAppend(&out, "no sluice_stage_* series at this address\n");
  }
  for (const auto& [pipeline, state] : view.pipelines) {
    absl::StrAppend(&out, "pipeline \"", pipeline, "\"");
    if (state.draining) absl::StrAppend(&out, " (draining)");
    if (state.paused) absl::StrAppend(&out, " (paused)");
    absl::StrAppend(&out, "\n");
    Table stages(
        {"STAGE", "INSTANCE", "IN/s", "OUT/s", "MAILBOX", "DEMAND", "RESTARTS", "DEAD-LETTERED"},
        2);
    for (const TopStageRow& row : view.stages) {
      if (row.pipeline != pipeline) continue;
      stages.Add({row.stage, row.instance, Whole(row.in_per_second), Whole(row.out_per_second),
                  Whole(row.mailbox_depth), Whole(row.outstanding_demand), Whole(row.restarts),
                  Whole(row.dead_lettered)});
    }
    stages.AppendTo(out);

    Table partitions({"KAFKA PARTITION", "STAGE", "INSTANCE", "LAG", "COMMITTED", "PAUSED"}, 3);
    bool any = false;
    for (const TopPartitionSample& partition : view.partitions) {
      if (partition.pipeline != pipeline) continue;
      any = true;
      partitions.Add({absl::StrCat(partition.topic, "/", partition.partition), partition.stage,
                      partition.instance, Whole(partition.lag),
                      partition.committed_offset ? Whole(*partition.committed_offset) : "-",
                      partition.paused ? "yes" : "no"});
    }
    if (any) {
      absl::StrAppend(&out, "\n");
      partitions.AppendTo(out);
    }
  }
  return out;
}

std::string RenderTopFrame(const TopView& view, std::string_view address) {
  std::string frame = "\033[H";
  for (absl::string_view line : absl::StrSplit(RenderTopText(view, address), '\n')) {
    absl::StrAppend(&frame, line, "\033[K\n");
  }
  absl::StrAppend(&frame, "Ctrl-C to quit\033[K\033[J");
  return frame;
}

}  // namespace sluice::cli
