// File: tools/cli/top_model.h
//
// What `sluice top` shows, built from parsed `/metrics` scrapes
// (tools/cli/top_metrics_text.h): one Scrape per response, holding the
// series of docs/metrics.md that top needs, and a TopView made from two
// scrapes, where counters become rates:
//
//   rate = (counter in `after` - counter in `before`) / interval
//
// where the interval is the difference of the two scrapes'
// sluice_uptime_seconds (the exporter's clock, read with the counters), or of
// their arrival times (`at`) when either lacks it or uptime went down. E.g.
// events_in 1,000 then 3,000 two seconds later: 1,000 events/s. A
// counter that went down (the process restarted at the same address) counts
// from zero, as Prometheus' rate() does; an instance missing from `before`
// started during the interval and counts from zero too.
//
// Rows are sorted by pipeline, stage name and instance number, so that the
// table does not reorder between refreshes (the exposition's order is the
// exporter's hash order).
//
// Immutable values; the functions are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "tools/cli/top_metrics_text.h"

namespace sluice::cli {

// One stage instance's series ({pipeline, stage, instance}).
struct TopStageSample {
  std::string pipeline;
  std::string stage;
  std::string instance;
  // Counters (sluice_stage_*_total).
  double events_in = 0;
  double events_out = 0;
  double events_failed = 0;
  double dead_lettered = 0;
  double restarts = 0;
  // Gauges.
  double mailbox_depth = 0;
  double outstanding_demand = 0;
};

// One Kafka partition of a source instance.
struct TopPartitionSample {
  std::string pipeline;
  std::string stage;
  std::string instance;
  std::string topic;
  std::string partition;
  double lag = 0;
  std::optional<double> committed_offset;
  bool paused = false;
};

// What top keeps of one pipeline's own gauges.
struct TopPipelineState {
  bool draining = false;
  bool paused = false;
};

struct TopScrape {
  // When the response arrived.
  absl::Time at;
  std::vector<TopStageSample> stages;          // sorted (see above)
  std::vector<TopPartitionSample> partitions;  // sorted by pipeline, stage, topic, partition
  std::map<std::string, TopPipelineState> pipelines;
  std::optional<double> uptime_seconds;
  // sluice_build_info's version label; "" when absent.
  std::string version;
};

// Picks the sluice_* series out of a parsed exposition. Anything else
// (histograms, other exporters' series) is ignored.
TopScrape MakeTopScrape(const MetricsText& text, absl::Time at);

struct TopStageRow {
  std::string pipeline;
  std::string stage;
  std::string instance;
  double in_per_second = 0;
  double out_per_second = 0;
  double mailbox_depth = 0;
  double outstanding_demand = 0;
  double restarts = 0;
  double dead_lettered = 0;
};

struct TopView {
  // What the rates are over (see above).
  absl::Duration interval;
  std::vector<TopStageRow> stages;
  std::vector<TopPartitionSample> partitions;  // from `after`
  std::map<std::string, TopPipelineState> pipelines;
  std::optional<double> uptime_seconds;
  std::string version;
};

// The view of `after`, with rates taken against `before`. An interval that
// is not positive gives rates of 0.
TopView MakeTopView(const TopScrape& before, const TopScrape& after);

}  // namespace sluice::cli
