// File: tools/ops/metrics_collector.h
//
// Renders a running pipeline's metrics in the Prometheus text format (the
// `/metrics` endpoint): every stage instance's counters, gauges and
// histograms (Pipeline::Snapshot()), every probed source's partitions
// (pipeline/source_probe.h: Kafka lag, committed offset, paused), every
// dead-letter backend's writes, and the process. docs/metrics.md lists each
// name, its labels and meaning; `sluice top` reads them by those names, so a
// rename is a breaking change.
//
// Thread-safe: CollectMetrics() only reads thread-safe snapshots.
#pragma once

#include <string>

#include "absl/time/time.h"

#include "pipeline/pipeline.h"
#include "pipeline/source_probe.h"

namespace sluice::ops {

struct ProcessInfo {
  absl::Time started_at;
  std::string version;
  std::string build_type;
};

// The exposition text of everything above, now.
std::string CollectMetrics(const Pipeline& pipeline, const SourceProbeRegistry& probes,
                           const ProcessInfo& process);

// The Prometheus histogram bucket bounds (seconds) every sluice histogram
// uses; LatencyHistogram's finer buckets are folded into them.
const std::vector<double>& HistogramBoundsSeconds();

}  // namespace sluice::ops
