#include "pipeline/stage_metrics.h"

#include <algorithm>
#include <utility>

namespace sluice {

StageMetricsSnapshot& StageMetricsSnapshot::operator+=(const StageMetricsSnapshot& other) {
  events_in += other.events_in;
  events_out += other.events_out;
  events_failed += other.events_failed;
  events_retried += other.events_retried;
  events_dead_lettered += other.events_dead_lettered;
  events_discarded += other.events_discarded;
  events_dropped += other.events_dropped;
  events_acknowledged += other.events_acknowledged;
  restarts += other.restarts;
  mailbox_depth += other.mailbox_depth;
  outstanding_demand += other.outstanding_demand;
  busy_ns += other.busy_ns;
  idle_ns += other.idle_ns;
  backpressured_ns += other.backpressured_ns;
  bytes_in += other.bytes_in;
  for (size_t i = 0; i < end_to_end_latency.size(); ++i)
    end_to_end_latency[i] += other.end_to_end_latency[i];
  end_to_end_latency_sum_us += other.end_to_end_latency_sum_us;
  for (size_t i = 0; i < processing_latency.size(); ++i)
    processing_latency[i] += other.processing_latency[i];
  if (!other.last_crash.empty()) last_crash = other.last_crash;
  return *this;
}

void StageMetrics::set_last_crash(std::string reason) {
  MutexLock lock(&mu_);
  last_crash_ = std::move(reason);
}

StageMetricsSnapshot StageMetrics::Snapshot() const {
  StageMetricsSnapshot s;
  s.events_in = events_in.load(std::memory_order_relaxed);
  s.events_out = events_out.load(std::memory_order_relaxed);
  s.events_failed = events_failed.load(std::memory_order_relaxed);
  s.events_retried = events_retried.load(std::memory_order_relaxed);
  s.events_dead_lettered = events_dead_lettered.load(std::memory_order_relaxed);
  s.events_discarded = events_discarded.load(std::memory_order_relaxed);
  s.events_dropped = events_dropped.load(std::memory_order_relaxed);
  s.events_acknowledged = events_acknowledged.load(std::memory_order_relaxed);
  s.restarts = restarts.load(std::memory_order_relaxed);
  s.mailbox_depth = mailbox_depth.load(std::memory_order_relaxed);
  s.outstanding_demand = outstanding_demand.load(std::memory_order_relaxed);
  s.busy_ns = busy_ns.load(std::memory_order_relaxed);
  s.idle_ns = idle_ns.load(std::memory_order_relaxed);
  s.backpressured_ns = backpressured_ns.load(std::memory_order_relaxed);
  s.bytes_in = bytes_in.load(std::memory_order_relaxed);
  s.end_to_end_latency = end_to_end_latency.Snapshot();
  s.end_to_end_latency_sum_us = end_to_end_latency_sum_us.load(std::memory_order_relaxed);
  s.processing_latency = processing_latency.Snapshot();
  MutexLock lock(&mu_);
  s.last_crash = last_crash_;
  return s;
}

void DeadLetterMetrics::RecordWrite(const absl::Status& status, size_t records,
                                    absl::Duration took) {
  write_latency.Record(took);
  write_ns.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(took))),
                     std::memory_order_relaxed);
  if (status.ok()) {
    writes.fetch_add(records, std::memory_order_relaxed);
  } else {
    errors.fetch_add(1, std::memory_order_relaxed);
  }
  MutexLock lock(&mu_);
  last_error_ = status.ok() ? "" : status.ToString();
}

std::string DeadLetterMetrics::failing() const {
  MutexLock lock(&mu_);
  return last_error_;
}

}  // namespace sluice
