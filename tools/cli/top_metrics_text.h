// File: tools/cli/top_metrics_text.h
//
// A parser for the Prometheus text exposition format (version 0.0.4), the body
// of a `/metrics` response, for `sluice top`. Only what that format has:
//
//   # HELP sluice_stage_events_in_total Events delivered to a stage instance.
//   # TYPE sluice_stage_events_in_total counter
//   sluice_stage_events_in_total{pipeline="orders",stage="parse",instance="0"} 1027
//   sluice_stage_processing_seconds_bucket{...,le="+Inf"} 12 1700000000000
//
// Every sample line becomes one MetricSample, histogram and summary series
// (`_bucket`, `_sum`, `_count`) included, as plain samples: a reader that wants
// them looks them up by name. `# TYPE` lines are kept per family; other
// comments (`# HELP`, anything else after `#`) are skipped. Label values are
// unescaped (`\\`, `\"`, `\n`). Values may be `NaN`, `+Inf`, `-Inf`; a
// trailing timestamp is accepted and ignored.
//
//   SLUICE_ASSIGN_OR_RETURN(MetricsText text, ParseMetricsText(body));
//   for (const MetricSample& sample : text.samples) ...
//
// Immutable results; the functions are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace sluice::cli {

struct MetricSample {
  std::string name;
  // In the order they were written.
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;

  // The value of label `label_name`, or "" when it has none.
  std::string_view label(std::string_view label_name) const;
};

struct MetricsText {
  std::vector<MetricSample> samples;
  // Family name -> its `# TYPE` ("counter", "gauge", "histogram", "summary",
  // "untyped").
  absl::flat_hash_map<std::string, std::string> types;
};

// Parses a whole exposition. Errors (kInvalidArgument) name the 1-based line
// and what is wrong there: `line 7: label value not terminated by '"'`.
absl::StatusOr<MetricsText> ParseMetricsText(std::string_view text);

}  // namespace sluice::cli
