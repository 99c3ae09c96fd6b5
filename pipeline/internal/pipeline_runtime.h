// File: pipeline/internal/pipeline_runtime.h
//
// PipelineRuntime owns everything a running pipeline is made of: the
// scheduler, the stage instances and their wiring, the supervision tree, the
// acknowledgement routing from events back to their sources' AckTrackers, and
// the end of the run (every instance finished, Drain() timed out, or the root
// supervisor gave up). Pipeline is its public face.
//
// Thread-safe: the acknowledgement and supervision entry points are called
// by every instance; Wait() from one thread, Drain() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

#include "pipeline/ack_tracker.h"
#include "pipeline/dead_letter_queue.h"
#include "pipeline/internal/callback_gate.h"
#include "pipeline/internal/scheduler.h"
#include "pipeline/mutex.h"
#include "pipeline/options.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage_metrics.h"
#include "pipeline/supervisor.h"

namespace sluice::internal {

class StageInstance;

struct StageRuntime {
  StageSpec spec;
  size_t index = 0;
  std::vector<std::unique_ptr<StageMetrics>> metrics;  // per instance
  std::vector<StageInstance*> instances;
  std::vector<size_t> downstream;  // stages subscribing to this one
  std::unique_ptr<Supervisor> supervisor;
  DeadLetterQueue* dead_letter = nullptr;
  DeadLetterMetrics* dead_letter_metrics = nullptr;  // its backend's, owned by the runtime
};

class PipelineRuntime {
 public:
  // REQUIRES: `stages` passed PipelineBuilder's validation, sorted so that
  // every stage comes after the stages it subscribes to.
  PipelineRuntime(PipelineOptions options, std::vector<StageSpec> stages);
  ~PipelineRuntime();

  absl::Status Start();
  RunReport Wait();
  void Drain(std::optional<absl::Duration> timeout);
  std::vector<StageReport> Snapshot() const;
  InMemoryDeadLetterQueue* default_dead_letters() const { return default_dead_letters_.get(); }
  std::vector<DeadLetterReport> DeadLetterSnapshot() const;
  // For the operations endpoint (issue #8): see Pipeline.
  bool draining() const;
  absl::Status health() const;
  void SetPaused(bool paused);
  // Producers are not asked for events while set (checked per slice).
  bool paused() const { return paused_.load(std::memory_order_acquire); }

  // For instances.
  const PipelineOptions& options() const { return options_; }
  const Clock& clock() const { return *clock_; }
  Scheduler& scheduler() { return *scheduler_; }
  // Threads of backends and sinks call back into instances through this.
  const std::shared_ptr<CallbackGate>& callback_gate() const { return callback_gate_; }
  bool halted() const { return halted_.load(std::memory_order_acquire); }
  const std::string& source_name(SourceId source) const;
  // What the event's source calls its partition, if it named it.
  std::optional<PartitionName> source_partition_name(const Origin& origin) const;
  // One completion for each event of `events` not marked in `skip` (same
  // length as events, or empty for none).
  void Complete(absl::Span<const Event> events, absl::Span<const uint8_t> skip = {});
  void Complete(const Origin& origin);
  void AddRefs(const Event& event, uint32_t extra);
  // An instance finished its work (or a restart made it work again).
  void InstanceFinished();
  // The root supervisor gave up: stop the pipeline with `status`.
  void Halt(absl::Status status);

 private:
  void Wire();
  void RestartStage(size_t stage_index, const std::string& reason);
  bool AllFinished() const;
  // Events the sources emitted and not yet done (for drain logs).
  uint64_t EventsInFlight() const;

  PipelineOptions options_;
  const Clock* clock_;
  std::shared_ptr<InMemoryDeadLetterQueue> default_dead_letters_;
  std::vector<std::unique_ptr<StageRuntime>> stages_;
  std::unique_ptr<Scheduler> scheduler_;
  std::shared_ptr<CallbackGate> callback_gate_ = std::make_shared<CallbackGate>();
  std::vector<std::unique_ptr<StageInstance>> instances_;
  // Indexed by SourceId: the producer instances.
  std::vector<StageInstance*> sources_;
  std::vector<std::string> source_names_;
  std::unique_ptr<Supervisor> root_supervisor_;

  // One per distinct backend, in the order stages name them.
  std::vector<std::pair<DeadLetterQueue*, std::unique_ptr<DeadLetterMetrics>>> dead_letter_metrics_;

  std::atomic<bool> halted_{false};
  // Acquire/release: a source that sees it cleared runs again (no data is
  // published through it).
  std::atomic<bool> paused_{false};
  std::atomic<bool> started_{false};
  absl::Time started_at_;

  mutable Mutex mu_;
  absl::Status halt_status_ ABSL_GUARDED_BY(mu_);
  // Bumped on every InstanceFinished() so Wait() re-checks.
  uint64_t finish_events_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Time> drain_deadline_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  CondVar finished_cv_;
};

}  // namespace sluice::internal
