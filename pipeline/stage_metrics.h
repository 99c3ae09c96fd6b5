// File: pipeline/stage_metrics.h
//
// StageMetrics are the counters and gauges of one stage instance, updated by
// the runtime once per batch (never per event) so they stay on in benchmarks.
// The metrics endpoint (issue #8, tools/ops/) reads them through Snapshot().
//
// How the counters add up, per instance:
//   events_in = events_out - extra_emitted + dropped + failed_final + in hand
// and across the pipeline every event entering at a source ends acknowledged,
// dropped (filtered), dead-lettered or discarded (a producer buffer overflow).
//
// Time shares: each instance is always in one of three states - busy (in a
// stage callback), backpressured (it has input or output but no demand
// downstream to send to) or idle (nothing to do). A slow stage is busy; the
// stages it holds up are backpressured behind it.
//
// Thread-safe: one instance writes (relaxed atomics: each is a lone counter,
// nothing is published through it), anyone reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

#include "pipeline/latency_histogram.h"
#include "pipeline/mutex.h"

namespace sluice {

enum class InstanceState { kIdle, kBusy, kBackpressured };

struct StageMetricsSnapshot {
  uint64_t events_in = 0;       // received from upstream (or emitted, for producers)
  uint64_t events_out = 0;      // sent downstream
  uint64_t events_failed = 0;   // per-event failures, each attempt counted
  uint64_t events_retried = 0;  // failures scheduled for another attempt
  uint64_t events_dead_lettered = 0;
  uint64_t events_discarded = 0;     // producer buffer overflow
  uint64_t events_dropped = 0;       // filtered out: done here
  uint64_t events_acknowledged = 0;  // consumers: done here
  uint64_t restarts = 0;
  int64_t mailbox_depth = 0;       // events received and not yet handled
  int64_t outstanding_demand = 0;  // asked upstream, not yet received
  uint64_t busy_ns = 0;
  uint64_t idle_ns = 0;
  uint64_t backpressured_ns = 0;
  uint64_t bytes_in = 0;  // producers: key and value bytes emitted
  // Consumers: how long after its timestamp each event reached the sink
  // (sampled, up to 16 events per batch, each standing for its share).
  LatencyHistogram::Counts end_to_end_latency{};
  uint64_t end_to_end_latency_sum_us = 0;  // the sampled latencies, weighted
  // Time per batch callback (HandleDemand, HandleEvents, HandleWake), one
  // record per call; its sum is busy_ns.
  LatencyHistogram::Counts processing_latency{};
  std::string last_crash;

  StageMetricsSnapshot& operator+=(const StageMetricsSnapshot& other);
};

class StageMetrics {
 public:
  using Counter = std::atomic<uint64_t>;
  using Gauge = std::atomic<int64_t>;

  static void Add(Counter& counter, uint64_t delta) {
    counter.fetch_add(delta, std::memory_order_relaxed);
  }
  static void Set(Gauge& gauge, int64_t value) { gauge.store(value, std::memory_order_relaxed); }

  Counter events_in{0};
  Counter events_out{0};
  Counter events_failed{0};
  Counter events_retried{0};
  Counter events_dead_lettered{0};
  Counter events_discarded{0};
  Counter events_dropped{0};
  Counter events_acknowledged{0};
  Counter restarts{0};
  Gauge mailbox_depth{0};
  Gauge outstanding_demand{0};
  Counter busy_ns{0};
  Counter idle_ns{0};
  Counter backpressured_ns{0};
  Counter bytes_in{0};
  LatencyHistogram end_to_end_latency;
  Counter end_to_end_latency_sum_us{0};
  LatencyHistogram processing_latency;

  void set_last_crash(std::string reason);
  StageMetricsSnapshot Snapshot() const;

 private:
  mutable Mutex mu_;
  std::string last_crash_ ABSL_GUARDED_BY(mu_);
};

// The writes of one dead-letter backend, over every stage that uses it: kept
// by the runtime per backend, updated where it hands records to the backend
// and where the backend confirms (any thread).
//
// Thread-safe: relaxed atomics (lone counters), the last error under a lock.
class DeadLetterMetrics {
 public:
  using Counter = std::atomic<uint64_t>;

  Counter writes{0};  // records stored
  Counter errors{0};  // Write() calls that failed
  // Write() to confirmation, per call; its sum in write_ns.
  LatencyHistogram write_latency;
  Counter write_ns{0};

  // One Write() call ended.
  void RecordWrite(const absl::Status& status, size_t records, absl::Duration took);
  // The last write failed, and no write succeeded since: the backend is
  // unreachable as far as the runtime knows. Its error, or "" if not failing.
  std::string failing() const;

 private:
  mutable Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
