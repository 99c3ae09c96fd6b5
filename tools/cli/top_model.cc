#include "tools/cli/top_model.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/numbers.h"

namespace sluice::cli {
namespace {

// Instances are "0", "1", ...: compare them as numbers so that 10 sorts after 9.
int64_t InstanceNumber(const std::string& instance) {
  int64_t number = 0;
  return absl::SimpleAtoi(instance, &number) ? number : -1;
}

std::tuple<const std::string&, const std::string&, int64_t, const std::string&> StageOrder(
    const TopStageSample& sample) {
  return {sample.pipeline, sample.stage, InstanceNumber(sample.instance), sample.instance};
}

std::tuple<const std::string&, const std::string&, const std::string&, int64_t, const std::string&,
           int64_t>
PartitionOrder(const TopPartitionSample& sample) {
  return {sample.pipeline,  sample.stage,
          sample.topic,     InstanceNumber(sample.partition),
          sample.partition, InstanceNumber(sample.instance)};
}

using StageKey = std::tuple<std::string, std::string, std::string>;
using PartitionKey = std::tuple<std::string, std::string, std::string, std::string, std::string>;

// Where each sluice_stage_* series goes in TopStageSample.
double* StageField(TopStageSample& sample, std::string_view name) {
  if (name == "sluice_stage_events_in_total") return &sample.events_in;
  if (name == "sluice_stage_events_out_total") return &sample.events_out;
  if (name == "sluice_stage_events_failed_total") return &sample.events_failed;
  if (name == "sluice_stage_events_dead_lettered_total") return &sample.dead_lettered;
  if (name == "sluice_stage_restarts_total") return &sample.restarts;
  if (name == "sluice_stage_mailbox_depth") return &sample.mailbox_depth;
  if (name == "sluice_stage_outstanding_demand") return &sample.outstanding_demand;
  return nullptr;
}

bool IsPartitionSeries(std::string_view name) {
  return name == "sluice_kafka_partition_lag" ||
         name == "sluice_kafka_partition_committed_offset" ||
         name == "sluice_kafka_partition_paused";
}

// The counter's increase over the interval; a counter that went down was
// reset and counts from zero.
double Increase(double before, double after) { return after >= before ? after - before : after; }

}  // namespace

TopScrape MakeTopScrape(const MetricsText& text, absl::Time at) {
  TopScrape scrape;
  scrape.at = at;
  std::map<StageKey, TopStageSample> stages;
  std::map<PartitionKey, TopPartitionSample> partitions;
  for (const MetricSample& sample : text.samples) {
    const std::string_view name = sample.name;
    if (name.substr(0, 13) == "sluice_stage_") {
      TopStageSample probe;
      if (StageField(probe, name) == nullptr) continue;  // histograms, time counters
      StageKey key{std::string(sample.label("pipeline")), std::string(sample.label("stage")),
                   std::string(sample.label("instance"))};
      auto [it, inserted] = stages.try_emplace(key);
      if (inserted) {
        std::tie(it->second.pipeline, it->second.stage, it->second.instance) = key;
      }
      *StageField(it->second, name) = sample.value;
    } else if (IsPartitionSeries(name)) {
      PartitionKey key{std::string(sample.label("pipeline")), std::string(sample.label("stage")),
                       std::string(sample.label("instance")), std::string(sample.label("topic")),
                       std::string(sample.label("partition"))};
      auto [it, inserted] = partitions.try_emplace(key);
      TopPartitionSample& partition = it->second;
      if (inserted) {
        std::tie(partition.pipeline, partition.stage, partition.instance, partition.topic,
                 partition.partition) = key;
      }
      if (name == "sluice_kafka_partition_lag") {
        partition.lag = sample.value;
      } else if (name == "sluice_kafka_partition_committed_offset") {
        partition.committed_offset = sample.value;
      } else {
        partition.paused = sample.value != 0;
      }
    } else if (name == "sluice_pipeline_draining") {
      scrape.pipelines[std::string(sample.label("pipeline"))].draining = sample.value != 0;
    } else if (name == "sluice_pipeline_paused") {
      scrape.pipelines[std::string(sample.label("pipeline"))].paused = sample.value != 0;
    } else if (name == "sluice_uptime_seconds") {
      scrape.uptime_seconds = sample.value;
    } else if (name == "sluice_build_info") {
      scrape.version = std::string(sample.label("version"));
    }
  }
  for (auto& [key, sample] : stages) {
    scrape.pipelines.try_emplace(sample.pipeline);
    scrape.stages.push_back(std::move(sample));
  }
  for (auto& [key, partition] : partitions) scrape.partitions.push_back(std::move(partition));
  std::sort(scrape.stages.begin(), scrape.stages.end(),
            [](const TopStageSample& a, const TopStageSample& b) {
              return StageOrder(a) < StageOrder(b);
            });
  std::sort(scrape.partitions.begin(), scrape.partitions.end(),
            [](const TopPartitionSample& a, const TopPartitionSample& b) {
              return PartitionOrder(a) < PartitionOrder(b);
            });
  return scrape;
}

TopView MakeTopView(const TopScrape& before, const TopScrape& after) {
  TopView view;
  view.interval = after.at - before.at;
  // The exporter's own clock, read as it took the counters, leaves out the
  // HTTP round trips; a restarted process (uptime went down) falls back to
  // ours.
  if (before.uptime_seconds && after.uptime_seconds &&
      *after.uptime_seconds > *before.uptime_seconds) {
    view.interval = absl::Seconds(*after.uptime_seconds - *before.uptime_seconds);
  }
  view.partitions = after.partitions;
  view.pipelines = after.pipelines;
  view.uptime_seconds = after.uptime_seconds;
  view.version = after.version;
  const double seconds = absl::ToDoubleSeconds(view.interval);

  std::map<StageKey, const TopStageSample*> earlier;
  for (const TopStageSample& sample : before.stages) {
    earlier[{sample.pipeline, sample.stage, sample.instance}] = &sample;
  }
  static const TopStageSample kNone;
  for (const TopStageSample& sample : after.stages) {
    auto it = earlier.find({sample.pipeline, sample.stage, sample.instance});
    const TopStageSample& then = it == earlier.end() ? kNone : *it->second;
    TopStageRow row;
    row.pipeline = sample.pipeline;
    row.stage = sample.stage;
    row.instance = sample.instance;
    if (seconds > 0) {
      row.in_per_second = Increase(then.events_in, sample.events_in) / seconds;
      row.out_per_second = Increase(then.events_out, sample.events_out) / seconds;
    }
    row.mailbox_depth = sample.mailbox_depth;
    row.outstanding_demand = sample.outstanding_demand;
    row.restarts = sample.restarts;
    row.dead_lettered = sample.dead_lettered;
    view.stages.push_back(std::move(row));
  }
  return view;
}

}  // namespace sluice::cli
