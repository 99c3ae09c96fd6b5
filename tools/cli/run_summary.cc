#include "tools/cli/run_summary.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "pipeline/string_view_compat.h"

namespace sluice::cli {
namespace {

// 1234567 -> "1,234,567".
std::string Grouped(uint64_t value) {
  std::string digits = absl::StrCat(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Rate(double per_second) {
  if (per_second >= 1e6) return absl::StrFormat("%.2fM", per_second / 1e6);
  if (per_second >= 1e3) return absl::StrFormat("%.1fk", per_second / 1e3);
  return absl::StrFormat("%.0f", per_second);
}

double Seconds(absl::Duration elapsed) { return std::max(absl::ToDoubleSeconds(elapsed), 1e-9); }

std::string TypeOf(const std::vector<StageGraphEntry>& graph, const std::string& name) {
  for (const StageGraphEntry& entry : graph) {
    if (entry.name == name) return entry.type;
  }
  return "";
}

}  // namespace

std::string StatusLine(std::vector<StageReport> stages, absl::Duration elapsed) {
  // RunReport's accessors sum the stages as the final summary does.
  RunReport so_far;
  so_far.stages = std::move(stages);
  uint64_t restarts = 0;
  for (const StageReport& stage : so_far.stages) restarts += stage.totals.restarts;
  const uint64_t emitted = so_far.events_emitted();
  std::string line = absl::StrCat(
      "in ", Grouped(emitted), "  done ", Grouped(so_far.events_acknowledged()), "  dropped ",
      Grouped(so_far.events_dropped()), "  dead-lettered ", Grouped(so_far.events_dead_lettered()),
      "  ", Rate(static_cast<double>(emitted) / Seconds(elapsed)), " events/s");
  if (restarts > 0) absl::StrAppend(&line, "  restarts ", restarts);
  return line;
}

bool CountsMustBalance(const std::vector<StageGraphEntry>& graph) {
  return std::none_of(graph.begin(), graph.end(), [](const StageGraphEntry& entry) {
    return entry.dispatch == DispatchMode::kBroadcast;
  });
}

bool CountsBalance(const RunReport& report) {
  return report.events_emitted() == report.events_acknowledged() + report.events_dropped() +
                                        report.events_dead_lettered() + report.events_discarded() +
                                        report.events_in_flight();
}

std::string Summary(const std::string& pipeline, const std::vector<StageGraphEntry>& graph,
                    const RunReport& report, const std::string& dead_letters) {
  std::string out;
  absl::StrAppend(&out, "pipeline \"", pipeline, "\" ", report.status.ok() ? "finished" : "FAILED",
                  " after ",
                  absl::FormatDuration(absl::Trunc(report.elapsed, absl::Milliseconds(1))), "\n");
  if (!report.status.ok()) absl::StrAppend(&out, "  error: ", report.status.ToString(), "\n");
  absl::StrAppend(&out, absl::StrFormat("\n%-16s %-15s %-9s %12s %12s %10s %9s %9s %13s %10s %8s\n",
                                        "stage", "type", "role", "in", "out", "dropped", "failed",
                                        "retried", "dead-lettered", "discarded", "restarts"));
  for (const StageReport& stage : report.stages) {
    const StageMetricsSnapshot& t = stage.totals;
    absl::StrAppend(
        &out,
        absl::StrFormat("%-16s %-15s %-9s %12s %12s %10s %9s %9s %13s %10s %8s\n", stage.name,
                        TypeOf(graph, stage.name), Av(RoleName(stage.role)), Grouped(t.events_in),
                        Grouped(t.events_out), Grouped(t.events_dropped), Grouped(t.events_failed),
                        Grouped(t.events_retried), Grouped(t.events_dead_lettered),
                        Grouped(t.events_discarded), Grouped(t.restarts)));
  }
  const uint64_t emitted = report.events_emitted();
  absl::StrAppend(&out, "\nevents: ", Grouped(emitted),
                  " emitted = ", Grouped(report.events_acknowledged()), " acknowledged + ",
                  Grouped(report.events_dropped()), " dropped + ",
                  Grouped(report.events_dead_lettered()), " dead-lettered + ",
                  Grouped(report.events_discarded()), " discarded + ",
                  Grouped(report.events_in_flight()), " in flight (uncommitted)");
  if (CountsMustBalance(graph)) {
    absl::StrAppend(&out, CountsBalance(report) ? "  [adds up]" : "  [DOES NOT ADD UP]");
  } else {
    absl::StrAppend(&out, "  [fan-out: consumers count each copy]");
  }
  absl::StrAppend(&out, "\nrate: ", Rate(static_cast<double>(emitted) / Seconds(report.elapsed)),
                  " events/s\n");
  if (!report.drained) {
    absl::StrAppend(&out, "drain timed out: ", Grouped(report.events_in_flight()),
                    " events left uncommitted; they are redelivered on the next run\n");
  }
  if (report.events_dead_lettered() > 0 || !dead_letters.empty()) {
    absl::StrAppend(&out, "dead letters: ", Grouped(report.events_dead_lettered()), " -> ",
                    dead_letters, "\n");
  }
  return out;
}

}  // namespace sluice::cli
