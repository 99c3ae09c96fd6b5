#include "tools/ops/metrics_collector.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

#include "pipeline/latency_histogram.h"

namespace sluice::ops {
namespace {

using prometheus::Labels;

constexpr double kNanosPerSecond = 1e9;

// Folds LatencyHistogram counts into HistogramBoundsSeconds(): each fine
// bucket goes to the first Prometheus bucket whose bound is at or above its
// upper edge, so a sample is never counted below its true value (at most
// one fine bucket, about 9%, above it).
std::vector<double> BucketIncrements(const LatencyHistogram::Counts& counts) {
  const std::vector<double>& bounds = HistogramBoundsSeconds();
  std::vector<double> increments(bounds.size() + 1, 0.0);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const double upper = absl::ToDoubleSeconds(LatencyHistogram::UpperEdge(i));
    const size_t slot =
        static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), upper) - bounds.begin());
    increments[slot] += static_cast<double>(counts[i]);
  }
  return increments;
}

void Observe(prometheus::Family<prometheus::Histogram>& family, const Labels& labels,
             const LatencyHistogram::Counts& counts, double sum_seconds) {
  family.Add(labels, HistogramBoundsSeconds())
      .ObserveMultiple(BucketIncrements(counts), sum_seconds);
}

}  // namespace

const std::vector<double>& HistogramBoundsSeconds() {
  static const std::vector<double> bounds = {
      0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300};
  return bounds;
}

std::string CollectMetrics(const Pipeline& pipeline, const SourceProbeRegistry& probes,
                           const ProcessInfo& process) {
  // A fresh registry per scrape: the values are absolute snapshots (the
  // runtime's own atomics are the source of truth), so setting them into a
  // registry kept between scrapes would only add a second copy to keep in
  // step, and series that vanish (a revoked partition) would linger in it.
  // A scrape costs one pass over the stages, far below a scrape interval.
  prometheus::Registry registry;
  auto counter = [&](const char* name,
                     const char* help) -> prometheus::Family<prometheus::Counter>& {
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
  };
  auto gauge = [&](const char* name, const char* help) -> prometheus::Family<prometheus::Gauge>& {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
  };
  auto histogram = [&](const char* name,
                       const char* help) -> prometheus::Family<prometheus::Histogram>& {
    return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
  };
  const std::string& name = pipeline.name();

  auto& events_in = counter("sluice_stage_events_in_total",
                            "Events received from upstream (emitted, for sources)");
  auto& events_out = counter("sluice_stage_events_out_total", "Events sent downstream");
  auto& events_failed =
      counter("sluice_stage_events_failed_total", "Per-event failures, each attempt counted");
  auto& events_retried =
      counter("sluice_stage_events_retried_total", "Failures scheduled for another attempt");
  auto& events_dead_lettered =
      counter("sluice_stage_events_dead_lettered_total", "Events stored in the dead-letter queue");
  auto& events_discarded =
      counter("sluice_stage_events_discarded_total", "Events a full producer buffer discarded");
  auto& events_dropped =
      counter("sluice_stage_events_dropped_total", "Events filtered out: done here");
  auto& events_acknowledged =
      counter("sluice_stage_events_acknowledged_total", "Events a sink acknowledged");
  auto& restarts = counter("sluice_stage_restarts_total", "Restarts of the instance");
  auto& busy = counter("sluice_stage_busy_seconds_total", "Time spent in stage callbacks");
  auto& backpressured = counter("sluice_stage_backpressured_seconds_total",
                                "Time with work but no downstream demand");
  auto& idle = counter("sluice_stage_idle_seconds_total", "Time with nothing to do");
  auto& mailbox = gauge("sluice_stage_mailbox_depth", "Events received and not yet handled");
  auto& demand = gauge("sluice_stage_outstanding_demand", "Events asked upstream, not received");
  auto& processing = histogram("sluice_stage_processing_seconds", "Time per batch callback");
  auto& end_to_end = histogram("sluice_stage_end_to_end_latency_seconds",
                               "Event timestamp to sink, sampled (sinks)");

  for (const StageReport& stage : pipeline.Snapshot()) {
    for (size_t index = 0; index < stage.instances.size(); ++index) {
      const StageMetricsSnapshot& m = stage.instances[index];
      const Labels labels = {
          {"pipeline", name}, {"stage", stage.name}, {"instance", absl::StrCat(index)}};
      events_in.Add(labels).Increment(static_cast<double>(m.events_in));
      events_out.Add(labels).Increment(static_cast<double>(m.events_out));
      events_failed.Add(labels).Increment(static_cast<double>(m.events_failed));
      events_retried.Add(labels).Increment(static_cast<double>(m.events_retried));
      events_dead_lettered.Add(labels).Increment(static_cast<double>(m.events_dead_lettered));
      events_discarded.Add(labels).Increment(static_cast<double>(m.events_discarded));
      events_dropped.Add(labels).Increment(static_cast<double>(m.events_dropped));
      events_acknowledged.Add(labels).Increment(static_cast<double>(m.events_acknowledged));
      restarts.Add(labels).Increment(static_cast<double>(m.restarts));
      busy.Add(labels).Increment(static_cast<double>(m.busy_ns) / kNanosPerSecond);
      backpressured.Add(labels).Increment(static_cast<double>(m.backpressured_ns) /
                                          kNanosPerSecond);
      idle.Add(labels).Increment(static_cast<double>(m.idle_ns) / kNanosPerSecond);
      mailbox.Add(labels).Set(static_cast<double>(m.mailbox_depth));
      demand.Add(labels).Set(static_cast<double>(m.outstanding_demand));
      Observe(processing, labels, m.processing_latency,
              static_cast<double>(m.busy_ns) / kNanosPerSecond);
      if (stage.role == StageRole::kConsumer) {
        Observe(end_to_end, labels, m.end_to_end_latency,
                static_cast<double>(m.end_to_end_latency_sum_us) / 1e6);
      }
    }
  }

  auto& lag = gauge("sluice_kafka_partition_lag",
                    "Messages after the committed offset (high watermark - committed)");
  auto& committed = gauge("sluice_kafka_partition_committed_offset",
                          "The last committed offset (the next to read)");
  auto& paused = gauge("sluice_kafka_partition_paused", "1 while fetching is paused");
  auto& oldest = gauge("sluice_kafka_partition_oldest_in_flight_seconds",
                       "Age of the oldest emitted event not done yet");
  auto& connected = gauge("sluice_kafka_source_connected", "1 while the brokers are reachable");
  for (const SourceProbeRegistry::Entry& entry : probes.entries()) {
    for (const ProbeInstance& instance : entry.probe->instances()) {
      const std::string index = absl::StrCat(instance.instance);
      connected.Add({{"pipeline", name}, {"stage", entry.stage}, {"instance", index}})
          .Set(instance.connected ? 1 : 0);
      for (const ProbePartition& partition : instance.partitions) {
        const Labels labels = {{"pipeline", name},
                               {"stage", entry.stage},
                               {"instance", index},
                               {"topic", partition.topic},
                               {"partition", absl::StrCat(partition.partition)}};
        // Unknown values are left out rather than shown as 0 (a lag of 0
        // would read as "caught up").
        if (partition.lag.has_value()) lag.Add(labels).Set(static_cast<double>(*partition.lag));
        if (partition.committed.has_value()) {
          committed.Add(labels).Set(static_cast<double>(*partition.committed));
        }
        paused.Add(labels).Set(partition.paused ? 1 : 0);
        oldest.Add(labels).Set(absl::ToDoubleSeconds(partition.oldest_in_flight_age));
      }
    }
  }

  auto& dlq_writes =
      counter("sluice_dead_letter_writes_total", "Dead-letter records stored by the backend");
  auto& dlq_errors = counter("sluice_dead_letter_errors_total", "Failed dead-letter writes");
  auto& dlq_latency = histogram("sluice_dead_letter_write_seconds",
                                "Time from handing records to the backend to its confirmation");
  for (const DeadLetterReport& report : pipeline.DeadLetterSnapshot()) {
    const Labels labels = {{"pipeline", name}, {"backend", report.backend}};
    // Two backends of one kind (two files) add up under one label set.
    dlq_writes.Add(labels).Increment(static_cast<double>(report.writes));
    dlq_errors.Add(labels).Increment(static_cast<double>(report.errors));
    Observe(dlq_latency, labels, report.write_latency,
            static_cast<double>(report.write_ns) / kNanosPerSecond);
  }

  gauge("sluice_uptime_seconds", "Seconds since the process started")
      .Add({})
      .Set(absl::ToDoubleSeconds(absl::Now() - process.started_at));
  gauge("sluice_build_info", "Always 1; the labels say what was built")
      .Add({{"version", process.version}, {"build_type", process.build_type}})
      .Set(1);
  gauge("sluice_pipeline_draining", "1 once the pipeline drains (shutting down)")
      .Add({{"pipeline", name}})
      .Set(pipeline.draining() ? 1 : 0);
  gauge("sluice_pipeline_paused", "1 while an operator paused the whole pipeline")
      .Add({{"pipeline", name}})
      .Set(pipeline.paused() ? 1 : 0);

  return prometheus::TextSerializer().Serialize(registry.Collect());
}

}  // namespace sluice::ops
